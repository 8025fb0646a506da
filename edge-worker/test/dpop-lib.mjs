// Device-bound door tokens for tests (edge-worker/src/dpop.rs): a device key, a door token bound
// to it (cnf.jkt, signed by the fixture's staff signer) and DPoP proofs (RFC 9449) signed by it.
// Node's crypto with ieee-p1363 signatures: the JWS ES256 form, as WebCrypto's r||s.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** RFC 7638 thumbprint of a P-256 public JWK. */
export function thumbprint(jwk) {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash("sha256").update(canonical).digest("base64url");
}

/** A fresh device key: its private key, public JWK and thumbprint. */
export function deviceKey() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const full = publicKey.export({ format: "jwk" });
  const jwk = { kty: "EC", crv: "P-256", x: full.x, y: full.y };
  return { privateKey, jwk, jkt: thumbprint(jwk) };
}

/** A door token signed by the fixture's staff signer, bound to `jkt` when given. */
export function mintDoorToken(fx, { sub, role = "staff", events = ["evt-a"], gates = ["*"], iat = nowSecs() - 5, ttl = 900, jkt, jti = randomBytes(16).toString("hex") }) {
  const signer = createPrivateKey({ key: fx.data.staff_signer_jwk, format: "jwk" });
  const claims = { aud: fx.data.audience, ...(jkt ? { cnf: { jkt } } : {}), events, exp: iat + ttl, gates, iat, iss: fx.data.issuer, jti, nbf: iat, role, sub };
  const input = `${b64({ alg: "ES256", typ: "JWT", kid: "staff-2026-1" })}.${b64(claims)}`;
  const signature = sign("sha256", Buffer.from(input), { key: signer, dsaEncoding: "ieee-p1363" });
  return { token: `${input}.${signature.toString("base64url")}`, jti, sub };
}

/** A DPoP proof by `key` for `htm` `htu` and `token`; `header`/`claims` override fields, and
 * `signer` signs instead of the key (a proof claiming a key it does not hold). */
export function proof(key, { htm, htu, token, iat = nowSecs(), jti = randomBytes(12).toString("hex"), header = {}, claims = {}, signer }) {
  const ath = createHash("sha256").update(token).digest("base64url");
  const input = `${b64({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk, ...header })}.${b64({ htm, htu, iat, jti, ath, ...claims })}`;
  const signature = sign("sha256", Buffer.from(input), { key: (signer ?? key).privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}
