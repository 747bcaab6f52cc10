import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { channelAccess } from '../../kube/auth.ts';
import type { KubeObject } from '../../kube/objects.ts';
import { ChannelDetail, ChannelList, ChannelListQuery, ChannelParams } from '../channel-schemas.ts';
import { channelPhase, toChannelDetail, toChannelSummary } from '../channel-view.ts';
import { errorResponses, HttpError } from '../errors.ts';

/** Where channels come from: the operator's reflector cache (every replica has one), never the apiserver per request. */
export interface ChannelSource {
  list(): KubeObject[];
  get(name: string): KubeObject | undefined;
  /** Changes whenever the set changes; lets the list response be built once per change (and per second). */
  readonly version?: number;
}

type ListQuery = z.output<typeof ChannelListQuery>;
type Params = z.output<typeof ChannelParams>;

const byName = (a: KubeObject, b: KubeObject) =>
  a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;

export function channelRoutes(app: FastifyInstance, deps: { channels: ChannelSource; now: () => number }): void {
  const security = [{ bearer: [] }];
  const listBodies = new Map<string, string>();
  app.get(
    '/api/v1/channels',
    {
      schema: {
        summary: 'List IncidentChannels',
        description: 'Needs `list` on incidentchannels.warroom.dev.',
        tags: ['channels'],
        security,
        querystring: ChannelListQuery,
        response: { 200: ChannelList, ...errorResponses(400, 401, 403, 429, 503) },
      },
      config: { access: { attributes: () => channelAccess('list') } },
    },
    async (request, reply) => {
      const { phase } = request.query as ListQuery;
      const now = deps.now();
      // A list of hundreds of channels is ~100 KB of JSON; building, checking and serialising it per request is
      // what the latency was. Its content only changes with the cache or, for the countdowns, each second, so the
      // body is built once per (cache version, filter, second) — through the same zod schema the serializer uses,
      // so a cached body holds nothing the schema would not let out.
      const version = deps.channels.version;
      const key = `${version}|${phase ?? ''}|${Math.floor(now / 1000)}`;
      let body = version === undefined ? undefined : listBodies.get(key);
      if (body === undefined) {
        const items = deps.channels
          .list()
          .filter((c) => phase === undefined || channelPhase(c) === phase)
          .sort(byName)
          .map((c) => toChannelSummary(c, now));
        body = JSON.stringify(ChannelList.parse({ items, count: items.length }));
        if (listBodies.size >= 16) listBodies.clear();
        if (version !== undefined) listBodies.set(key, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );
  app.get(
    '/api/v1/channels/:name',
    {
      schema: {
        summary: 'Get one IncidentChannel',
        description: 'Needs `get` on the named incidentchannels.warroom.dev object.',
        tags: ['channels'],
        security,
        params: ChannelParams,
        response: { 200: ChannelDetail, ...errorResponses(400, 401, 403, 404, 429, 503) },
      },
      config: { access: { attributes: (request) => channelAccess('get', (request.params as Params).name) } },
    },
    async (request) => {
      const { name } = request.params as Params;
      const channel = deps.channels.get(name);
      if (!channel) throw new HttpError(404, `incidentchannel "${name}" not found`);
      return toChannelDetail(channel, deps.now());
    },
  );
}
