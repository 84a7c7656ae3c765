// A real OpenID provider (panva's oidc-provider) for faasauth's integration tests.
//
// Usage:  node server.mjs ['<JSON config>']      (or the config in env FAASAUTH_IDP_CONFIG)
//
// Listens on 127.0.0.1 only, keeps everything in memory, and when ready prints exactly one
// JSON line on stdout:   {"issuer":"http://127.0.0.1:PORT","port":PORT,"pid":PID}
// Anything else the provider says goes to stderr. Serves until SIGTERM/SIGINT (exit 0), or,
// with "exitWithParent": true, until its stdin is closed (so it dies with a killed pytest).
//
// Config keys (all optional):
//   port            TCP port, 0 (default) = any free port
//   deviceCodeTtl   seconds a device code lives (default 600); after expiry polls answer
//                   expired_token, and ~15 s later the code is purged (then invalid_grant)
//   interval        seconds; if set, "interval": N is added to the device authorization
//                   response (by default oidc-provider sends none, so clients must use 5 s)
//   slowDown        boolean; see the slow_down middleware below for the exact rules
//   authMethods     token endpoint auth methods advertised in discovery and accepted
//                   (default ["client_secret_basic","client_secret_post","none"]); without
//                   client_secret_basic, any HTTP Basic credentials get 401 invalid_client
//   accessTokenTtl  seconds (default 3600), for both device-grant and client-credentials tokens
//   idTokenTtl      seconds (default 3600)
//   refreshTokenTtl seconds (default 14 days)
//   exitWithParent  boolean; exit when stdin reaches EOF
//
// Clients (fixed):
//   cc-client      confidential, secret CC_CLIENT_SECRET below; grants client_credentials,
//                  device_code, refresh_token; auth method client_secret_basic, or
//                  client_secret_post when basic is not among authMethods.
//   device-client  public (token_endpoint_auth_method "none"); grants device_code and
//                  refresh_token. Only registered when "none" is among authMethods.
//   code-client    public native app (application_type "native", auth method "none"); grants
//                  authorization_code and refresh_token, response_types ["code"], redirect URI
//                  http://127.0.0.1:31111/oauth/callback (faas-cli's default; as a native
//                  client's loopback redirect it matches on any port, RFC 8252 7.3). PKCE S256
//                  is required. offline_access gives a refresh token only with prompt=consent.
//                  Only registered when "none" is among authMethods.
//
// Extra test-only endpoint: GET /_test/device-polls returns every device-code poll seen so far
// as a JSON list of {user_code, t (ms since server start), gap (ms since the previous poll of
// that code, or null), interval (s, the server-side interval in force after this poll), answer}
// so a test can assert how a client paced its polling.

import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';

// oidc-provider warns about Node < 22 at import time ("Unsupported runtime"); on Node 20 it
// works fine for our purposes. Drop that one line, and send console.info (which the library
// uses for its notices) to stderr so that stdout carries only our JSON line. The library is
// therefore imported dynamically, after the console is patched.
{
  const { warn } = console;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
    warn(...args);
  };
  console.info = (...args) => console.error(...args);
  console.log = (...args) => console.error(...args);
}
const { default: Provider } = await import('oidc-provider');

const CC_CLIENT_ID = 'cc-client';
// Contains '+', '%', ':' and a space: Basic auth only works if the client form-urlencodes it.
const CC_CLIENT_SECRET = 's3cr+t%2F:x y';
const DEVICE_CLIENT_ID = 'device-client';
const CODE_CLIENT_ID = 'code-client';
const CODE_REDIRECT_URI = 'http://127.0.0.1:31111/oauth/callback';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
// Resource server (audience) of every access token; its scopes can be requested.
const RESOURCE = 'https://api.faasauth.test';
const RESOURCE_SCOPES = 'api:read api:write';

const rawConfig = process.argv[2] ?? process.env.FAASAUTH_IDP_CONFIG ?? '{}';
let cfg;
try {
  cfg = JSON.parse(rawConfig);
} catch (err) {
  console.error(`server.mjs: config is not JSON: ${err.message}`);
  process.exit(2);
}
const known = new Set(['port', 'deviceCodeTtl', 'interval', 'slowDown', 'authMethods',
  'accessTokenTtl', 'idTokenTtl', 'refreshTokenTtl', 'exitWithParent']);
for (const key of Object.keys(cfg)) {
  if (!known.has(key)) {
    console.error(`server.mjs: unknown config key ${JSON.stringify(key)}`);
    process.exit(2);
  }
}

const port = Number(cfg.port ?? 0);
const deviceCodeTtl = Number(cfg.deviceCodeTtl ?? 600);
const interval = cfg.interval == null ? null : Number(cfg.interval);
const slowDown = Boolean(cfg.slowDown);
const authMethods = cfg.authMethods ?? ['client_secret_basic', 'client_secret_post', 'none'];
const accessTokenTtl = Number(cfg.accessTokenTtl ?? 3600);
const idTokenTtl = Number(cfg.idTokenTtl ?? 3600);
const refreshTokenTtl = Number(cfg.refreshTokenTtl ?? 14 * 24 * 3600);

let ccAuthMethod;
if (authMethods.includes('client_secret_basic')) ccAuthMethod = 'client_secret_basic';
else if (authMethods.includes('client_secret_post')) ccAuthMethod = 'client_secret_post';
else {
  console.error('server.mjs: authMethods must include client_secret_basic or client_secret_post');
  process.exit(2);
}

const clients = [{
  client_id: CC_CLIENT_ID,
  client_secret: CC_CLIENT_SECRET,
  client_name: 'faasauth test (confidential)',
  token_endpoint_auth_method: ccAuthMethod,
  grant_types: ['client_credentials', DEVICE_CODE_GRANT, 'refresh_token'],
  response_types: [],
  redirect_uris: [],
}];
if (authMethods.includes('none')) {
  clients.push({
    client_id: DEVICE_CLIENT_ID,
    client_name: 'faasauth test (public)',
    token_endpoint_auth_method: 'none',
    grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  }, {
    client_id: CODE_CLIENT_ID,
    client_name: 'faasauth test (browser login)',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [CODE_REDIRECT_URI],
  });
}

// A fresh signing key per server process (instead of the library's fixed development keys).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

// Listen first: the issuer must contain the actual port.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

const provider = new Provider(issuer, {
  clients,
  clientAuthMethods: authMethods,
  jwks: { keys: [signingKey] },
  cookies: { keys: ['faasauth-test-cookie-key'] },
  // Any login name is accepted by devInteractions; give the account a few claims.
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: sub, email: `${sub}@example.test`, email_verified: true };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      // Device grant: issue the access token for the resource granted at consent (a JWT)
      // rather than an opaque userinfo-only token.
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: RESOURCE_SCOPES,
          audience: RESOURCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: accessTokenTtl,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: {
    AccessToken: accessTokenTtl,
    ClientCredentials: accessTokenTtl,
    DeviceCode: deviceCodeTtl,
    IdToken: idTokenTtl,
    RefreshToken: refreshTokenTtl,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Interaction: 3600,
  },
  // Always rotate (the default rotates confidential clients' tokens only at 70% of their life).
  rotateRefreshToken: () => true,
  // Without offline_access no refresh token; with it, always one.
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
});

// Default oidc-provider routes (not overridden above).
const DEVICE_AUTH_PATH = '/device/auth';
const TOKEN_PATH = '/token';

// ---------------------------------------------------------------------------------------------
// Device-code bookkeeping, "interval" and slow_down.
//
// Every POST /token with grant_type=urn:ietf:params:oauth:grant-type:device_code is a "poll".
// The time of a poll is taken when the request ARRIVES (before the provider handles it), so a
// client that sleeps `interval` seconds after receiving a response and then polls always shows
// a gap >= interval.
//
// slowDown rules (only when config slowDown is true), per device code:
//   * The server-side interval starts at the advertised one: config `interval`, or 5 s if
//     unset (the RFC 8628 default).
//   * Only an `authorization_pending` answer is ever rewritten into
//     HTTP 400 {"error":"slow_down"}; expired_token, access_denied, invalid_grant and
//     successful token responses pass through unchanged, however early the poll.
//   * The FIRST poll of each device code is answered slow_down (if pending), deliberately,
//     even when perfectly timed.
//   * Any later pending poll whose gap since the previous poll of that code (whatever that
//     previous answer was) is shorter than the current interval minus 200 ms tolerance is
//     answered slow_down.
//   * Every slow_down answer adds 5 s to the server-side interval for that code (RFC 8628
//     3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
//     requests").
// Consequence: a correct client with interval 1 polls at t=0 (slow_down; interval now 6),
// t=6 (authorization_pending), t=12, ... and sees exactly one slow_down. A client that ignores
// slow_down and keeps polling every 1 s gets slow_down on every poll, and the interval it would
// have to respect grows by 5 s each time.
// ---------------------------------------------------------------------------------------------
const started = performance.now();
const userCodeOf = new Map(); // device_code -> user_code
const pollState = new Map(); // device_code -> { last, interval }
const polls = [];
const baseInterval = interval ?? 5;
const TOLERANCE_MS = 200;

// oidc-provider itself treats client_secret_basic and client_secret_post as interchangeable for
// a client registered with either one. When authMethods leaves out client_secret_basic, make the
// server really refuse HTTP Basic (401 invalid_client) at every client-authenticating endpoint.
// (Leaving out client_secret_post needs no help: the provider then ignores client_secret.)
const CLIENT_AUTH_PATHS = new Set([TOKEN_PATH, DEVICE_AUTH_PATH, '/token/revocation',
  '/token/introspection']);
const basicAllowed = authMethods.includes('client_secret_basic');

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/_test/device-polls') {
    ctx.body = polls;
    return;
  }

  if (!basicAllowed && ctx.method === 'POST' && CLIENT_AUTH_PATHS.has(ctx.path)
      && /^basic /i.test(ctx.get('authorization'))) {
    ctx.status = 401;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      error: 'invalid_client',
      error_description: 'client_secret_basic is not supported by this server (use client_secret_post)',
    };
    return;
  }

  if (ctx.method === 'POST' && ctx.path === DEVICE_AUTH_PATH) {
    await next();
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.device_code) {
      userCodeOf.set(ctx.body.device_code, ctx.body.user_code);
      if (interval != null) {
        ctx.body = { ...ctx.body, interval };
      }
    }
    return;
  }

  if (!(ctx.method === 'POST' && ctx.path === TOKEN_PATH)) {
    await next();
    return;
  }

  const arrived = performance.now();
  await next();

  const body = ctx.oidc?.body;
  if (!body || body.grant_type !== DEVICE_CODE_GRANT || typeof body.device_code !== 'string') {
    return;
  }
  const deviceCode = body.device_code;
  const state = pollState.get(deviceCode);
  const gap = state ? arrived - state.last : null;
  let answer = ctx.status === 200 ? 'tokens' : (ctx.body && ctx.body.error) || `http ${ctx.status}`;

  if (slowDown && answer === 'authorization_pending') {
    const current = state ? state.interval : baseInterval;
    const tooEarly = state === undefined || gap < current * 1000 - TOLERANCE_MS;
    if (tooEarly) {
      ctx.status = 400;
      ctx.body = {
        error: 'slow_down',
        error_description: state === undefined
          ? 'first poll of this device code is always answered slow_down by the test server'
          : `polled ${Math.round(gap)} ms after the previous poll; interval is ${current} s`,
      };
      answer = 'slow_down';
    }
  }

  const newState = {
    last: arrived,
    interval: (state ? state.interval : baseInterval) + (answer === 'slow_down' ? 5 : 0),
  };
  pollState.set(deviceCode, newState);
  polls.push({
    user_code: userCodeOf.get(deviceCode) ?? null,
    t: Math.round(arrived - started),
    gap: gap === null ? null : Math.round(gap),
    interval: newState.interval,
    answer,
  });
});

server.on('request', provider.callback());

function shutdown() {
  server.closeAllConnections?.();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (cfg.exitWithParent) {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({ issuer, port: actualPort, pid: process.pid })}\n`);
