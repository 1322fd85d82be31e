import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createLocalJWKSet, type JWTPayload, type JWTVerifyResult, jwtVerify } from "jose";
import type { AuthConfig } from "../config.js";
import { tenantProblem } from "../domain/tenant.js";
import { type Principal, principalKey } from "./context.js";

/** Tenant of every caller when authentication is disabled (development on loopback only). */
export const INSECURE_TENANT = "default";

/** Claim naming the tenant in a JWT; `sub` is used when it is absent. */
export const TENANT_CLAIM = "tenant";

/** Turns an `authorization` header value into a principal, or rejects with UNAUTHENTICATED. */
export interface Authenticator {
  authenticate(authorization: string | null): Promise<Principal>;
}

function unauthenticated(message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated);
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Static tokens compared in constant time: every configured token is checked on every call. */
function tokenLookup(tokens: ReadonlyMap<string, string>): (token: string) => string | undefined {
  const entries = [...tokens].map(([token, tenant]) => ({ digest: digest(token), tenant }));
  return (token) => {
    const candidate = digest(token);
    let found: string | undefined;
    for (const entry of entries)
      if (timingSafeEqual(entry.digest, candidate) && found === undefined) found = entry.tenant;
    return found;
  };
}

function tenantOf(payload: JWTPayload): string | undefined {
  const claim = payload[TENANT_CLAIM];
  if (typeof claim === "string" && claim.trim() !== "") return claim;
  return typeof payload.sub === "string" && payload.sub.trim() !== "" ? payload.sub : undefined;
}

/**
 * Refuses tokens living longer than `maxLifetimeMs`: `exp - iat`, or `exp - now` for a token
 * without `iat` (jose has already checked that `exp` is present and not past).
 */
function checkLifetime(payload: JWTPayload, maxLifetimeMs: number): void {
  const exp = payload.exp as number;
  const from = typeof payload.iat === "number" ? payload.iat : Date.now() / 1000;
  if ((exp - from) * 1000 > maxLifetimeMs) {
    throw unauthenticated(`token lifetime exceeds the server's maximum of ${maxLifetimeMs / 1000} s`);
  }
}

/** Looks like a JWT: three base64url parts. */
function isJwtShaped(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

type JwtVerifier = (token: string) => Promise<JWTVerifyResult>;

/** Asymmetric algorithms accepted for keys of a JWKS file. */
const JWKS_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

/** One verify function per configured key source (jose's overloads take a key or a key getter, not either). */
function jwtVerifiers(config: AuthConfig): JwtVerifier[] {
  const verifyOptions = {
    ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
    // issue 12: a token must expire; skew is tolerated on exp, nbf and iat.
    requiredClaims: ["exp"],
    clockTolerance: Math.floor(config.jwtClockSkewMs / 1000),
  };
  const verifiers: JwtVerifier[] = [];
  if (config.jwtSecret) {
    const secret = new TextEncoder().encode(config.jwtSecret);
    verifiers.push((token) =>
      jwtVerify(token, secret, { ...verifyOptions, algorithms: ["HS256", "HS384", "HS512"] }),
    );
  }
  if (config.jwksFile) {
    const jwks = JSON.parse(readFileSync(config.jwksFile, "utf8")) as Parameters<typeof createLocalJWKSet>[0];
    const getKey = createLocalJWKSet(jwks);
    verifiers.push((token) => jwtVerify(token, getKey, { ...verifyOptions, algorithms: JWKS_ALGORITHMS }));
  }
  return verifiers;
}

/** The principal of a JWT accepted by one of `verifiers`; UNAUTHENTICATED with jose's reason otherwise. */
async function verifyJwt(
  verifiers: readonly JwtVerifier[],
  token: string,
  maxLifetimeMs: number,
): Promise<Principal> {
  let lastReason = "invalid token";
  for (const verify of verifiers) {
    try {
      const { payload } = await verify(token);
      checkLifetime(payload, maxLifetimeMs);
      const tenant = tenantOf(payload);
      if (!tenant) throw unauthenticated(`token has neither a "${TENANT_CLAIM}" nor a "sub" claim`);
      const problem = tenantProblem(tenant);
      if (problem) throw unauthenticated(`token's tenant claim ${problem}`);
      return {
        tenant,
        method: "jwt",
        claims: payload,
        ...(typeof payload.sub === "string" ? { subject: payload.sub } : {}),
      };
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      // jose's codes are safe to show (e.g. ERR_JWT_EXPIRED); the token itself never is.
      const { code, claim } = err as { code?: string; claim?: string };
      lastReason = `${code ?? "invalid token"}${claim ? `: ${claim}` : ""}`;
    }
  }
  throw unauthenticated(`invalid token (${lastReason})`);
}

/**
 * Builds the authenticator from config: static bearer tokens, HS256/384/512 JWTs with a shared
 * secret, JWTs signed by keys of a local JWKS file, or (development only) no authentication.
 */
export function createAuthenticator(config: AuthConfig): Authenticator {
  if (config.insecureNoAuth) {
    return { authenticate: async () => ({ tenant: INSECURE_TENANT, method: "insecure" }) };
  }
  const lookup = tokenLookup(config.tokens);
  const verifiers = jwtVerifiers(config);
  return {
    async authenticate(authorization) {
      if (!authorization) throw unauthenticated("missing credentials: send 'authorization: Bearer <token>'");
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw unauthenticated("malformed authorization header: expected 'Bearer <token>'");
      const token = match[1]!;
      const tenant = lookup(token);
      if (tenant !== undefined) return { tenant, method: "token" };
      if (verifiers.length > 0 && isJwtShaped(token))
        return verifyJwt(verifiers, token, config.jwtMaxLifetimeMs);
      throw unauthenticated("invalid token");
    },
  };
}

/** Options of {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  /** Services callable without credentials (health, reflection). */
  readonly exemptServices: readonly string[];
}

/**
 * Authenticates every call of a non-exempt service and stores the principal in the context.
 * The tenant comes only from the credentials: no request header or field can set it.
 */
export function createAuthInterceptor(
  authenticator: Authenticator,
  options: AuthInterceptorOptions,
): Interceptor {
  const exempt = new Set(options.exemptServices);
  return (next) => async (req) => {
    if (exempt.has(req.service.typeName)) return next(req);
    const principal = await authenticator.authenticate(req.header.get("authorization"));
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}
