// The site's phone rule against the cases the server's rule (functions/src/phone.rs) is tested
// with: 08…, +62…, 62… (spaces, dashes, dots, brackets) to E.164; anything else refused.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { toE164 } from "../../shared/phone.js";

const cases = JSON.parse(readFileSync(new URL("../../../functions/src/phone-cases.json", import.meta.url), "utf8")).cases;

test("phone numbers as Indonesians type them, to E.164 (the server's cases)", () => {
  assert.ok(cases.length >= 20);
  for (const [input, want] of cases) assert.equal(toE164(input), want, JSON.stringify(input));
});
