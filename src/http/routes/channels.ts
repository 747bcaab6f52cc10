import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { channelAccess } from '../../kube/auth.ts';
import type { KubeObject } from '../../kube/objects.ts';
import { acceptsGzip, ChannelListCache, matchesIfNoneMatch } from '../channel-list.ts';
import { ChannelDetail, ChannelList, ChannelListQuery, ChannelParams, NotModified } from '../channel-schemas.ts';
import { toChannelDetail } from '../channel-view.ts';
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

export function channelRoutes(app: FastifyInstance, deps: { channels: ChannelSource; now: () => number }): void {
  const security = [{ bearer: [] }];
  const lists = new ChannelListCache(deps.channels);
  app.get(
    '/api/v1/channels',
    {
      schema: {
        summary: 'List IncidentChannels',
        description:
          'Needs `list` on incidentchannels.warroom.dev. Pages with `limit`/`continue` as the apiserver does; ' +
          'answers `If-None-Match` with 304 (the ETag is a hash of the body) and `Accept-Encoding: gzip`.',
        tags: ['channels'],
        security,
        querystring: ChannelListQuery,
        response: {
          200: ChannelList,
          304: NotModified,
          ...errorResponses(400, 401, 403, 429, 503),
        },
      },
      config: { access: { attributes: () => channelAccess('list') } },
    },
    async (request, reply) => {
      const query = request.query as ListQuery;
      const list = lists.render(query, deps.now());
      // Authenticated content: caches may keep it only per user and must revalidate (the ETag makes that cheap).
      reply.header('etag', list.etag).header('cache-control', 'private, no-cache').header('vary', 'accept-encoding');
      if (matchesIfNoneMatch(request.headers['if-none-match'], list.etag)) return reply.code(304).send();
      reply.type('application/json; charset=utf-8');
      if (acceptsGzip(request.headers['accept-encoding']))
        return reply.header('content-encoding', 'gzip').send(list.gzip());
      return reply.send(list.body);
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
