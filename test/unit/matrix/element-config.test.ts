import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ElementConfigParams, renderElementConfig } from '../../../src/matrix/config/element.ts';

const params: ElementConfigParams = {
  homeserverBaseUrl: 'https://matrix.inc-42.example.org/',
  serverName: 'inc-42.invalid',
  elementUrl: 'https://chat.inc-42.example.org',
  brand: 'Incident 42',
};

function allStrings(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) allStrings(item, into);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      into.push(key);
      allStrings(item, into);
    }
  }
  return into;
}

test('pinned to our homeserver only', () => {
  const config = renderElementConfig(params);
  assert.deepEqual(config.default_server_config, {
    'm.homeserver': { base_url: 'https://matrix.inc-42.example.org', server_name: 'inc-42.invalid' },
  });
  assert.equal(config.disable_custom_urls, true);
  for (const key of ['default_server_name', 'default_hs_url', 'default_is_url']) assert.ok(!(key in config), key);
  assert.ok(!JSON.stringify(config).includes('m.identity_server'));
  assert.deepEqual(config.room_directory, { servers: ['inc-42.invalid'] });
  assert.equal(config.permalink_prefix, 'https://chat.inc-42.example.org');
});

test('every URL in the config is ours: nothing phones home', () => {
  const urls = allStrings(renderElementConfig(params)).filter((s) => /https?:\/\//.test(s));
  assert.ok(urls.length > 0);
  for (const url of urls) {
    assert.ok(
      url.startsWith('https://matrix.inc-42.example.org') || url.startsWith('https://chat.inc-42.example.org'),
      url,
    );
  }
});

test('no analytics, bug reports, integrations, widgets, Jitsi or maps', () => {
  const config = renderElementConfig(params);
  for (const key of [
    'posthog',
    'sentry',
    'bug_report_endpoint_url',
    'jitsi',
    'element_call',
    'map_style_url',
    'privacy_policy_url',
    'analytics_owner',
  ]) {
    assert.ok(!(key in config), `${key} must be absent`);
  }
  assert.equal(config.integrations_ui_url, null);
  assert.equal(config.integrations_rest_url, null);
  assert.deepEqual(config.integrations_widgets_urls, []);
  const settings = config.setting_defaults as Record<string, boolean>;
  assert.equal(settings['UIFeature.widgets'], false);
  assert.equal(settings['UIFeature.feedback'], false);
  assert.equal(settings['UIFeature.urlPreviews'], false);
  assert.equal(settings['UIFeature.locationSharing'], false);
});

test('no guests, registration or 3PID; rooms stay private and unfederated; 1:1 VoIP on', () => {
  const config = renderElementConfig(params);
  assert.equal(config.disable_guests, true);
  assert.equal(config.disable_3pid_login, true);
  assert.equal(config.default_federate, false);
  const settings = config.setting_defaults as Record<string, boolean>;
  for (const key of [
    'UIFeature.registration',
    'UIFeature.passwordReset',
    'UIFeature.identityServer',
    'UIFeature.thirdPartyId',
    'UIFeature.allowCreatingPublicRooms',
    'UIFeature.allowCreatingPublicSpaces',
  ]) {
    assert.equal(settings[key], false, key);
  }
  assert.equal(settings['UIFeature.voip'], true);
  assert.deepEqual(config.features, {
    feature_group_calls: false,
    feature_video_rooms: false,
    feature_element_call_video_rooms: false,
  });
  assert.deepEqual(config.enable_presence_by_hs_url, { 'https://matrix.inc-42.example.org': false });
});

test('the config survives JSON serialisation unchanged (it becomes config.json)', () => {
  const config = renderElementConfig(params);
  assert.deepEqual(JSON.parse(JSON.stringify(config)), config);
});

test('invalid parameters are refused', () => {
  assert.throws(() => renderElementConfig({ ...params, homeserverBaseUrl: 'javascript:alert(1)' }));
  assert.throws(() => renderElementConfig({ ...params, elementUrl: 'not a url' }));
  assert.throws(() => renderElementConfig({ ...params, serverName: 'Bad Name' }));
  assert.throws(() => renderElementConfig({ ...params, brand: ' ' }));
});
