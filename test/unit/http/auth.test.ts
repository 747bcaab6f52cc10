import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerToken } from '../../../src/http/access.ts';
import { CachingAuthenticator } from '../../../src/http/auth.ts';
import {
  type AccessAttributes,
  type AccessReviewer,
  type AccessReviewResult,
  channelAccess,
  type TokenReviewResult,
  type UserInfo,
} from '../../../src/kube/auth.ts';

/** Counts reviews; answers from a token table and a set of allowed usernames. */
class CountingReviewer implements AccessReviewer {
  tokenReviews: string[] = [];
  accessReviews: { user: UserInfo; attributes: AccessAttributes }[] = [];
  readonly tokens = new Map<string, UserInfo>();
  readonly allowed = new Set<string>();
  fail = false;
  gate: Promise<void> | undefined;

  async reviewToken(token: string): Promise<TokenReviewResult> {
    this.tokenReviews.push(token);
    await this.gate;
    if (this.fail) throw new Error('apiserver unavailable');
    const user = this.tokens.get(token);
    return user ? { authenticated: true, user } : { authenticated: false };
  }

  async reviewAccess(user: UserInfo, attributes: AccessAttributes): Promise<AccessReviewResult> {
    this.accessReviews.push({ user, attributes });
    await this.gate;
    if (this.fail) throw new Error('apiserver unavailable');
    return { allowed: this.allowed.has(user.username) };
  }
}

function setup(opts: { maxEntries?: number } = {}) {
  let now = 1_000_000;
  const reviewer = new CountingReviewer();
  reviewer.tokens.set('tok-alice', { username: 'alice', groups: ['sre', 'system:authenticated'] });
  reviewer.tokens.set('tok-alice-2', { username: 'alice', groups: ['system:authenticated', 'sre'] });
  reviewer.tokens.set('tok-bob', { username: 'bob' });
  reviewer.allowed.add('alice');
  const auth = new CachingAuthenticator({ reviewer, now: () => now, ...opts });
  return { auth, reviewer, advance: (ms: number) => (now += ms) };
}

describe('CachingAuthenticator', () => {
  it('reuses a valid token review for 10 s, then asks again', async () => {
    const { auth, reviewer, advance } = setup();
    assert.deepEqual(await auth.authenticate('tok-alice'), {
      username: 'alice',
      groups: ['sre', 'system:authenticated'],
    });
    await auth.authenticate('tok-alice');
    advance(9_999);
    await auth.authenticate('tok-alice');
    assert.equal(reviewer.tokenReviews.length, 1);
    advance(1);
    await auth.authenticate('tok-alice');
    assert.equal(reviewer.tokenReviews.length, 2);
  });

  it('remembers an invalid token for 2 s only', async () => {
    const { auth, reviewer, advance } = setup();
    assert.equal(await auth.authenticate('garbage'), undefined);
    advance(1_999);
    assert.equal(await auth.authenticate('garbage'), undefined);
    assert.equal(reviewer.tokenReviews.length, 1);
    reviewer.tokens.set('garbage', { username: 'late' });
    advance(1);
    assert.deepEqual(await auth.authenticate('garbage'), { username: 'late' }, 'a token that became valid works');
  });

  it('caches allowed decisions for 10 s and denied ones for 2 s', async () => {
    const { auth, reviewer, advance } = setup();
    const alice = { username: 'alice', groups: ['sre'] };
    const bob = { username: 'bob' };
    assert.equal((await auth.authorize(alice, channelAccess('list'))).allowed, true);
    assert.equal((await auth.authorize(bob, channelAccess('list'))).allowed, false);
    advance(2_000);
    await auth.authorize(alice, channelAccess('list'));
    await auth.authorize(bob, channelAccess('list'));
    assert.deepEqual(
      reviewer.accessReviews.map((r) => r.user.username),
      ['alice', 'bob', 'bob'],
    );
    advance(8_000);
    await auth.authorize(alice, channelAccess('list'));
    assert.equal(reviewer.accessReviews.length, 4);
  });

  it('keys decisions by user and attributes: another verb or object is another review', async () => {
    const { auth, reviewer } = setup();
    const alice = { username: 'alice' };
    await auth.authorize(alice, channelAccess('list'));
    await auth.authorize(alice, channelAccess('get', 'a'));
    await auth.authorize(alice, channelAccess('get', 'b'));
    await auth.authorize(alice, { kind: 'nonResource', verb: 'get', path: '/metrics' });
    await auth.authorize({ username: 'alice', groups: ['admins'] }, channelAccess('list'));
    assert.equal(reviewer.accessReviews.length, 5);
    await auth.authorize(alice, channelAccess('get', 'b'));
    assert.equal(reviewer.accessReviews.length, 5);
  });

  it('shares one decision between two tokens of the same user, whatever the group order', async () => {
    const { auth, reviewer } = setup();
    const one = await auth.authenticate('tok-alice');
    const two = await auth.authenticate('tok-alice-2');
    assert.ok(one && two);
    await auth.authorize(one, channelAccess('list'));
    await auth.authorize(two, channelAccess('list'));
    assert.equal(reviewer.tokenReviews.length, 2);
    assert.equal(reviewer.accessReviews.length, 1);
  });

  it('joins concurrent reviews of the same token into one call', async () => {
    const { auth, reviewer } = setup();
    let open: () => void = () => {};
    reviewer.gate = new Promise((resolve) => {
      open = resolve;
    });
    const pending = Array.from({ length: 20 }, () => auth.authenticate('tok-bob'));
    open();
    const users = await Promise.all(pending);
    assert.ok(users.every((u) => u?.username === 'bob'));
    assert.equal(reviewer.tokenReviews.length, 1);
  });

  it('does not cache a failed review: the next request asks again', async () => {
    const { auth, reviewer } = setup();
    reviewer.fail = true;
    await assert.rejects(auth.authenticate('tok-alice'), /apiserver unavailable/);
    await assert.rejects(auth.authorize({ username: 'alice' }, channelAccess('list')), /apiserver unavailable/);
    reviewer.fail = false;
    assert.equal((await auth.authenticate('tok-alice'))?.username, 'alice');
    assert.equal((await auth.authorize({ username: 'alice' }, channelAccess('list'))).allowed, true);
    assert.equal(reviewer.tokenReviews.length, 2);
    assert.equal(reviewer.accessReviews.length, 2);
  });

  it('stays bounded: the oldest entries are evicted past maxEntries', async () => {
    const { auth, reviewer } = setup({ maxEntries: 3 });
    for (const t of ['t1', 't2', 't3', 't4']) await auth.authenticate(t);
    await auth.authenticate('t4');
    await auth.authenticate('t2');
    assert.equal(reviewer.tokenReviews.length, 4, 't2 and t4 still cached');
    await auth.authenticate('t1');
    assert.equal(reviewer.tokenReviews.length, 5, 't1 was evicted');
  });
});

describe('bearerToken', () => {
  it('reads the token of a Bearer header, any case of the scheme', () => {
    assert.equal(bearerToken('Bearer abc.DEF-123_~+/=='), 'abc.DEF-123_~+/==');
    assert.equal(bearerToken('bearer xyz'), 'xyz');
  });

  it('rejects other schemes, empty, oversized and malformed values', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearer a,b', 'Token abc']) {
      assert.equal(bearerToken(header), undefined, String(header));
    }
    assert.equal(bearerToken(`Bearer ${'a'.repeat(20_000)}`), undefined);
  });
});
