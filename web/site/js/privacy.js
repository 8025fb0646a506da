// Privacy centre: a one-time code to the buyer's email, then export, delete or change consents.
import { call, config, showError } from "/shared/api.js";
import { formatClock } from "/shared/format.js";
import { I18nError, initI18n, onLanguageChange, t } from "/shared/i18n.js";
import { forgetAll } from "/js/wallet.js";
import { deviceId, mountTurnstile } from "/js/guard.js";

const $ = (id) => document.getElementById(id);
let cfg;
let challenge = null;
// What the page shows: the code's expiry and the last result (catalogue keys), re-rendered on a switch.
const view = { expiresMs: null, result: null };

function render() {
  if (view.expiresMs) $("expires").textContent = formatClock(view.expiresMs);
  if (view.result) $("result").textContent = `${t(view.result.key, view.result.params)} ${t("privacy.onceMore")}`;
}

async function requestCode(e) {
  e.preventDefault();
  $("error").hidden = true;
  const email = $("email").value.trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    showError($("error"), new I18nError("form.email"));
    return;
  }
  try {
    const headers = { "cf-turnstile-response": $("turnstile").dataset.token || "", "x-karcis-device": deviceId() };
    const r = await call(cfg.apiBase, "/v1/privacy/challenge", { method: "POST", body: { email }, headers });
    challenge = r.challenge;
    view.expiresMs = r.expires_at * 1000;
    render();
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
    showError($("error"), new I18nError("privacy.code8", {}, "privacy.codeTitle"));
    return;
  }
  if (action === "delete" && !confirm(t("privacy.confirmDelete"))) return;
  try {
    let message;
    if (action === "export") {
      const data = await call(cfg.apiBase, "/v1/privacy/export", { method: "POST", body: proof });
      const text = JSON.stringify(data, null, 2);
      $("export").textContent = text;
      $("export").hidden = false;
      $("download").href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      $("download-row").hidden = false;
      message = { key: "privacy.exported", params: { n: data.orders?.length ?? 0 } };
    } else if (action === "delete") {
      await call(cfg.apiBase, "/v1/privacy/delete", { method: "POST", body: proof });
      await forgetAll();
      $("export").hidden = true;
      $("download-row").hidden = true;
      message = { key: "privacy.deleted" };
    } else {
      const marketing = $("marketing").checked;
      await call(cfg.apiBase, "/v1/privacy/consents", { method: "PUT", body: { ...proof, marketing } });
      message = { key: marketing ? "privacy.marketingOn" : "privacy.marketingOff" };
    }
    view.result = message;
    render();
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
  initI18n();
  onLanguageChange(render);
  cfg = await config();
  if (!cfg.turnstileSiteKey) $("turnstile").dataset.i18n = "checkout.botPlaceholder";
  mountTurnstile($("turnstile"), cfg.turnstileSiteKey, "privacy", t("checkout.botPlaceholder"));
  $("challenge-form").addEventListener("submit", requestCode);
  $("action-form").addEventListener("submit", act);
}
main();
