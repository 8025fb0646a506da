// Privacy centre: a one-time code to the buyer's email, then export, delete or change consents.
import { ApiError, call, config, showError } from "/shared/api.js";
import { forgetAll } from "/js/wallet.js";
import { deviceId, mountTurnstile } from "/js/guard.js";

const $ = (id) => document.getElementById(id);
let cfg;
let challenge = null;

async function requestCode(e) {
  e.preventDefault();
  $("error").hidden = true;
  const email = $("email").value.trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    showError($("error"), new ApiError(400, { title: "Please check the form", detail: "Enter a valid email address." }));
    return;
  }
  try {
    const headers = { "cf-turnstile-response": $("turnstile").dataset.token || "", "x-karcis-device": deviceId() };
    const r = await call(cfg.apiBase, "/v1/privacy/challenge", { method: "POST", body: { email }, headers });
    challenge = r.challenge;
    $("expires").textContent = new Date(r.expires_at * 1000).toLocaleTimeString();
    $("sent").hidden = false;
    $("action-form").hidden = false;
    $("code").value = "";
    $("code").focus();
  } catch (x) {
    showError($("error"), x);
  }
}

async function act(e) {
  e.preventDefault();
  $("error").hidden = true;
  $("result").hidden = true;
  const action = new FormData($("action-form")).get("action");
  const proof = { email: $("email").value.trim(), challenge, code: $("code").value.trim() };
  if (!/^[0-9]{8}$/.test(proof.code)) {
    showError($("error"), new ApiError(400, { title: "Please check the code", detail: "The code has 8 digits." }));
    return;
  }
  if (action === "delete" && !confirm("Delete all your personal data? Your tickets stay valid, but we can no longer contact you.")) return;
  try {
    let message;
    if (action === "export") {
      const data = await call(cfg.apiBase, "/v1/privacy/export", { method: "POST", body: proof });
      const text = JSON.stringify(data, null, 2);
      $("export").textContent = text;
      $("export").hidden = false;
      $("download").href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      $("download-row").hidden = false;
      message = `Here is everything we hold about you (${data.orders?.length ?? 0} orders).`;
    } else if (action === "delete") {
      await call(cfg.apiBase, "/v1/privacy/delete", { method: "POST", body: proof });
      await forgetAll();
      $("export").hidden = true;
      $("download-row").hidden = true;
      message = "Your personal data has been deleted.";
    } else {
      const marketing = $("marketing").checked;
      await call(cfg.apiBase, "/v1/privacy/consents", { method: "PUT", body: { ...proof, marketing } });
      message = marketing ? "You will receive news about future events." : "You will no longer receive news about future events.";
    }
    $("result").textContent = `${message} Each code works once: request a new one for another request.`;
    $("result").hidden = false;
    $("result").dataset.action = action;
    $("result").focus();
    $("action-form").hidden = true;
    challenge = null;
  } catch (x) {
    showError($("error"), x);
  }
}

async function main() {
  cfg = await config();
  mountTurnstile($("turnstile"), cfg.turnstileSiteKey, "privacy", "Bot check (Cloudflare Turnstile) appears here. Development mode: test placeholder.");
  $("challenge-form").addEventListener("submit", requestCode);
  $("action-form").addEventListener("submit", act);
}
main();
