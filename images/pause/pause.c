/*
 * The pod sandbox's first process: it holds the pod's namespaces open and does nothing else.
 *
 * As PID 1 of the pod (with a shared PID namespace) it must reap orphaned children, or they stay zombies forever;
 * and PID 1 gets no default signal handlers, so it must exit on SIGTERM/SIGINT itself or the runtime has to wait for
 * its kill timeout. It sleeps in pause() between signals: no polling, no CPU.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "warroom-pause 1"

static void on_stop(int signo) {
  /* Exit status 0: a stop the runtime asked for is not a failure. _exit is async-signal-safe. */
  (void)signo;
  _exit(0);
}

static void on_child(int signo) {
  (void)signo;
  int saved = errno;
  /* Reap every child that has exited; WNOHANG so a live child never blocks us. */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int install(int signo, void (*handler)(int), int flags) {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = handler;
  action.sa_flags = flags;
  sigemptyset(&action.sa_mask);
  return sigaction(signo, &action, NULL);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
      printf("%s\n", VERSION);
      return 0;
    }
  }
  if (getpid() != 1) {
    /* Not fatal (a test may run it directly), but worth a line: reaping only matters as PID 1. */
    fprintf(stderr, "pause: not running as PID 1\n");
  }
  if (install(SIGINT, on_stop, 0) != 0 || install(SIGTERM, on_stop, 0) != 0 ||
      install(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) != 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) {
    pause();
  }
}
