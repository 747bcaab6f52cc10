/**
 * Element Web config.json for one incident: pinned to our homeserver, nothing that phones home (no analytics,
 * rageshake, integration manager, Jitsi, maps; widgets only for Element Call), no registration, guests or 3PID;
 * native 1:1 calls through our coturn, and Element Call when the war room has an SFU. Keys and their meaning: shared notes matrix.md §2.1.
 */

export interface ElementConfigParams {
  /** What browsers use to reach Synapse's client API (a different host from Element's). */
  homeserverBaseUrl: string;
  /** The MXID domain shown in the UI. */
  serverName: string;
  /** Element's own URL: permalinks point here instead of matrix.to. */
  elementUrl: string;
  /** Product name in the UI and the tab title, e.g. `Incident 42`. */
  brand: string;
  theme?: 'light' | 'dark' | 'system';
  /**
   * The war room runs a LiveKit SFU and its authoriser: Element Call on (the copy bundled with Element, so nothing is
   * fetched from elsewhere; the focus comes from the homeserver), legacy 1:1 calls through coturn still offered.
   */
  elementCall?: boolean;
}

export type ElementConfig = Record<string, unknown>;

function httpUrl(name: string, value: string): string {
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${name} must be an http(s) URL`);
  // Element compares base URLs as strings (enable_presence_by_hs_url): one canonical form, no trailing slash.
  return value.replace(/\/+$/, '');
}

export function renderElementConfig(params: ElementConfigParams): ElementConfig {
  const homeserver = httpUrl('homeserverBaseUrl', params.homeserverBaseUrl);
  const elementUrl = httpUrl('elementUrl', params.elementUrl);
  if (!/^[a-z0-9.-]+$/.test(params.serverName)) throw new Error(`invalid serverName ${params.serverName}`);
  if (params.brand.trim() === '' || params.brand.length > 100) throw new Error('brand must be 1..100 characters');

  return {
    // The well-known shape only: combining it with default_server_name/default_hs_url breaks Element, and
    // default_server_name would trigger a .well-known lookup. No m.identity_server.
    default_server_config: {
      'm.homeserver': { base_url: homeserver, server_name: params.serverName },
    },
    disable_custom_urls: true,
    disable_guests: true,
    disable_3pid_login: true,
    brand: params.brand,
    default_theme: params.theme ?? 'light',
    default_device_display_name: `${params.brand} (web)`,
    // Rooms created from Element must not federate either (m.federate: false).
    default_federate: false,
    permalink_prefix: elementUrl,
    room_directory: { servers: [params.serverName] },
    // null disables the integration manager (and with it most widget entry points).
    integrations_ui_url: null,
    integrations_rest_url: null,
    integrations_widgets_urls: [],
    show_labs_settings: false,
    // Group calls and video rooms need the war room's MatrixRTC focus; without it 1:1 calls use TURN only.
    features: {
      feature_group_calls: params.elementCall === true,
      feature_video_rooms: false,
      feature_element_call_video_rooms: false,
    },
    ...(params.elementCall
      ? {
          // No `url`: Element's bundled Element Call, never call.element.io. Legacy calls stay available.
          element_call: { use_exclusively: false, participant_limit: 16, brand: 'Element Call' },
        }
      : {}),
    setting_defaults: {
      'UIFeature.urlPreviews': false,
      // Element Call runs as a widget: with widgets off, Element Web hides both call buttons in every room of more
      // than two members (useRoomCall's "they require widgets but widgets are disabled"), i.e. in every war room room.
      // Widgets stay harmless otherwise: no integration manager, and only the admin bot may send widget state
      // (im.vector.modular.widgets at power level 100, room-power-levels.ts).
      'UIFeature.widgets': params.elementCall === true,
      'UIFeature.feedback': false,
      'UIFeature.registration': false,
      'UIFeature.passwordReset': false,
      'UIFeature.deactivate': false,
      'UIFeature.identityServer': false,
      'UIFeature.thirdPartyId': false,
      'UIFeature.shareSocial': false,
      'UIFeature.shareQrCode': false,
      'UIFeature.locationSharing': false,
      'UIFeature.allowCreatingPublicRooms': false,
      'UIFeature.allowCreatingPublicSpaces': false,
      'UIFeature.voip': true,
    },
    enable_presence_by_hs_url: { [homeserver]: false },
    mobile_guide_toast: false,
    desktop_builds: { available: false, logo: '', url: '' },
    mobile_builds: { ios: null, android: null, fdroid: null },
    embedded_pages: { login_for_welcome: true },
    // Deliberately absent: posthog and sentry (absent = analytics impossible, no opt-in prompt),
    // bug_report_endpoint_url (absent = rageshake off), jitsi, element_call.url, map_style_url, privacy_policy_url.
  };
}
