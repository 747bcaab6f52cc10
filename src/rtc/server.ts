import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../observability/logger.ts';
import { type Authoriser, LEGACY_SLOT, RtcError, type TokenRequest } from './authoriser.ts';

/**
 * The authoriser's HTTP API, the upstream lk-jwt-service's: `POST /get_token` (MatrixRTC, MSC4195), `POST /sfu/get`
 * (older Element Call), `GET /healthz`. Browsers call it cross-origin from Element, hence the CORS headers. Bodies are
 * small JSON; anything else is refused with a Matrix error naming what is wrong. The delayed-leave delegation of newer
 * upstream versions is not offered: clients then keep their own delayed leave event, as the MSC allows.
 */
const OpenIdTokenBody = z.object({
  access_token: z.string().min(1, 'openid_token.access_token is empty'),
  matrix_server_name: z.string().min(1, 'openid_token.matrix_server_name is empty'),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
});
const RoomId = z
  .string()
  .regex(/^![^\s/]+$/, 'is not a Matrix room id (!…)')
  .max(255);
const GetTokenBody = z.object({
  room_id: RoomId,
  slot_id: z.string().min(1).max(255),
  openid_token: OpenIdTokenBody,
  member: z.object({
    id: z.string().min(1).max(255),
    claimed_user_id: z.string().min(1).max(255),
    claimed_device_id: z.string().min(1).max(255),
  }),
});
const LegacyBody = z.object({
  room: RoomId,
  openid_token: OpenIdTokenBody,
  device_id: z.string().min(1).max(255),
});

/** Must match RTC_PATHS.authoriser (desired/ports.ts), the path clients are given. */
export const AUTHORISER_PATH_PREFIX = '/livekit/jwt';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST',
  'access-control-allow-headers': 'Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token',
};

export function createRtcServer(authoriser: Authoriser, log: Logger): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  const fail = (reply: FastifyReply, status: number, errcode: string, error: string) =>
    reply.code(status).headers(CORS).send({ errcode, error });

  app.setErrorHandler((err: { statusCode?: number; message?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) log.error({ reason: err.message }, 'authoriser request failed');
    return fail(
      reply,
      status,
      status === 500 ? 'M_UNKNOWN' : 'M_NOT_JSON',
      status === 500 ? 'internal error' : `${err.message}`,
    );
  });
  app.setNotFoundHandler((req, reply) =>
    fail(reply, 404, 'M_UNRECOGNIZED', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`),
  );

  const answer = async (reply: FastifyReply, request: TokenRequest) => {
    try {
      return reply
        .code(200)
        .headers(CORS)
        .send(await authoriser.issue(request));
    } catch (err) {
      if (err instanceof RtcError) return fail(reply, err.status, err.errcode, err.message);
      throw err;
    }
  };
  const parse = <T>(schema: z.ZodType<T>, body: unknown): T | string => {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    return `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`;
  };

  // At the root (a Service of its own) and under the path the homeserver's public host routes here, so an Ingress
  // needs no rewrite for it.
  for (const prefix of ['', AUTHORISER_PATH_PREFIX]) {
    for (const path of [`${prefix}/get_token`, `${prefix}/sfu/get`]) {
      app.options(path, (_req, reply) => reply.code(200).headers(CORS).send());
    }
    app.post(`${prefix}/get_token`, async (req, reply) => {
      const body = parse(GetTokenBody, req.body);
      if (typeof body === 'string') return fail(reply, 400, 'M_BAD_JSON', body);
      return answer(reply, {
        roomId: body.room_id,
        slotId: body.slot_id,
        openIdToken: body.openid_token,
        deviceId: body.member.claimed_device_id,
        memberId: body.member.id,
        claimedUserId: body.member.claimed_user_id,
      });
    });
    app.post(`${prefix}/sfu/get`, async (req, reply) => {
      const body = parse(LegacyBody, req.body);
      if (typeof body === 'string') return fail(reply, 400, 'M_BAD_JSON', body);
      return answer(reply, {
        roomId: body.room,
        slotId: LEGACY_SLOT,
        openIdToken: body.openid_token,
        deviceId: body.device_id,
      });
    });
    app.get(`${prefix}/healthz`, (_req, reply) => reply.code(200).send({ status: 'ok' }));
  }
  return app;
}
