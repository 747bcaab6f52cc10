// The secrets phase in sealed mode, against a client double that answers as an apiserver without the sealed-secrets
// CRD does (404 on the SealedSecret list): the channel must stall naming what to install, not retry a bare 404.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secretPlan } from '../../../src/controllers/incidentchannel/desired/secrets.ts';
import { SecretsPhase } from '../../../src/controllers/incidentchannel/secrets-phase.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import type { KubeObject } from '../../../src/kube/objects.ts';
import { exampleContext } from './channel-fixtures.ts';

const ctx = exampleContext('minimal.yaml', {}, { secretsMode: 'sealed' });

function phase(list: () => Promise<KubeObject[]>) {
  const created: KubeObject[] = [];
  const certAsked: number[] = [];
  const secrets = new SecretsPhase({
    client: {
      list: list,
      async create(obj) {
        created.push(obj);
        return obj;
      },
    },
    mode: 'sealed',
    certSource: {
      async get() {
        certAsked.push(1);
        throw new Error('the cluster was never asked for a certificate in this test');
      },
    },
  });
  return { secrets, created, certAsked };
}

test('no SealedSecret kind served: SealedSecretsUnavailable naming the CRD and --secrets=plain, nothing created', async () => {
  const { secrets, created, certAsked } = phase(async () => {
    throw new ApiError(404, 'Not Found', 'GET /apis/bitnami.com/v1alpha1/namespaces/wr-x/sealedsecrets: 404 Not Found');
  });
  const outcome = await secrets.ensure(ctx, secretPlan(ctx));
  assert.equal(outcome.ok, false);
  assert.ok(!outcome.ok);
  assert.equal(outcome.reason, 'SealedSecretsUnavailable');
  assert.match(outcome.message, /does not serve SealedSecrets \(bitnami\.com\/v1alpha1\).*--secrets=plain/);
  assert.ok(outcome.retryAfterMs > 0);
  assert.equal(created.length, 0);
  assert.equal(certAsked.length, 0, 'no certificate is fetched for a kind the cluster does not serve');
});

test('any other error of the list is left to the retry with backoff (a transient apiserver failure)', async () => {
  const { secrets } = phase(async () => {
    throw new ApiError(503, 'ServiceUnavailable', 'etcd leader changed');
  });
  await assert.rejects(secrets.ensure(ctx, secretPlan(ctx)), /etcd leader changed/);
});
