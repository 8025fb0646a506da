// The privacy policy page: its text comes from the catalogue; the version (in the page) is the
// same in every language, and is the one recorded with an order.
import { initI18n } from "/shared/i18n.js";

initI18n();
