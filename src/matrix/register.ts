import { createHmac } from 'node:crypto';
import { type FetchLike, MatrixHttpError, matrixRequest } from './matrix-http.ts';

/**
 * Synapse shared-secret registration (`/_synapse/admin/v1/register`, docs/admin_api/register_api.md): the only way
 * accounts come into being on a homeserver with registration closed.
 */

export interface RegistrationMacInput {
  nonce: string;
  username: string;
  password: string;
  admin: boolean;
  /** Covered by the MAC only when set (Synapse adds it only if truthy). */
  userType?: string | null;
}

/**
 * hex(HMAC-SHA1(secret, nonce NUL username NUL password NUL "admin"|"notadmin" [NUL user_type])), in the order
 * Synapse's UserRegisterServlet feeds its own HMAC. The display name is not covered.
 */
export function registrationMac(sharedSecret: string, input: RegistrationMacInput): string {
  const mac = createHmac('sha1', sharedSecret)
    .update(input.nonce)
    .update('\0')
    .update(input.username)
    .update('\0')
    .update(input.password)
    .update('\0')
    .update(input.admin ? 'admin' : 'notadmin');
  if (input.userType) mac.update('\0').update(input.userType);
  return mac.digest('hex');
}

export interface RegisterUserInput {
  /** The localpart. */
  username: string;
  password: string;
  admin: boolean;
  displayname?: string;
  userType?: string | null;
}

/** A logged-in device. The caller owns it: log it out when done, or it lingers in the user's device list. */
export interface MatrixSession {
  userId: string;
  accessToken: string;
  deviceId: string;
  /** false when the account already existed and we logged in with the password instead. */
  created: boolean;
}

export interface MatrixCallOptions {
  fetch?: FetchLike;
  timeoutMs?: number;
}

interface LoginResponse {
  user_id: string;
  access_token: string;
  device_id: string;
}

/** Password login (m.login.password with a user identifier). */
export async function loginWithPassword(
  baseUrl: string,
  username: string,
  password: string,
  options: MatrixCallOptions = {},
): Promise<MatrixSession> {
  const login = await matrixRequest<LoginResponse>(baseUrl, 'POST', '/_matrix/client/v3/login', {
    ...options,
    body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password },
  });
  return { userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id, created: false };
}

/** Ends the session and deletes its device (and the device's keys). */
export async function logout(baseUrl: string, session: MatrixSession, options: MatrixCallOptions = {}): Promise<void> {
  await matrixRequest(baseUrl, 'POST', '/_matrix/client/v3/logout', {
    ...options,
    accessToken: session.accessToken,
    body: {},
  });
}

/**
 * Registers the user with the shared secret, or, when the user id is already taken (a re-run), logs in with the
 * password: either way the caller gets a session for that account. Nonces live 60 s in one Synapse process and
 * die on first use, so each attempt fetches its own.
 */
export async function registerUser(
  baseUrl: string,
  sharedSecret: string,
  user: RegisterUserInput,
  options: MatrixCallOptions = {},
): Promise<MatrixSession> {
  const { nonce } = await matrixRequest<{ nonce: string }>(baseUrl, 'GET', '/_synapse/admin/v1/register', options);
  const mac = registrationMac(sharedSecret, {
    nonce,
    username: user.username,
    password: user.password,
    admin: user.admin,
    userType: user.userType ?? null,
  });
  try {
    const registered = await matrixRequest<LoginResponse>(baseUrl, 'POST', '/_synapse/admin/v1/register', {
      ...options,
      body: {
        nonce,
        username: user.username,
        password: user.password,
        admin: user.admin,
        ...(user.displayname === undefined ? {} : { displayname: user.displayname }),
        ...(user.userType ? { user_type: user.userType } : {}),
        mac,
      },
    });
    return {
      userId: registered.user_id,
      accessToken: registered.access_token,
      deviceId: registered.device_id,
      created: true,
    };
  } catch (error) {
    if (error instanceof MatrixHttpError && error.errcode === 'M_USER_IN_USE') {
      return loginWithPassword(baseUrl, user.username, user.password, options);
    }
    throw error;
  }
}
