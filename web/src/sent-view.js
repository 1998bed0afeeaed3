// The lists a sender's organisation sent: when, under which protocol, how
// many rows, where each stands (waiting, receipt confirmed, deleted), when
// receipt was confirmed and until when it is kept or when it was deleted.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { formatTime, h } from "./ui.js";

export async function sentView(show) {
  const { items } = await api("GET", "/api/v1/exchanges?box=sent");
  if (items.length === 0) return show(t("sent.heading"), h("p", {}, t("sent.empty")));
  show(t("sent.heading"), h("div", { class: "table-scroll" }, h("table", { id: "sent" },
    h("thead", {}, h("tr", {}, ["inbox.protocol", "sent.sent", "inbox.rows", "inbox.state", "sent.acknowledged",
      "sent.kept"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, items.map((x) => h("tr", { "data-exchange": x.id },
      h("td", {}, x.protocol_id),
      h("td", {}, formatTime(x.created_at)),
      h("td", {}, x.rows ?? ""),
      h("td", {}, t(`state.${x.state}`)),
      h("td", {}, formatTime(x.acknowledged_at)),
      h("td", {}, x.deleted_at ? t("subject.deleted", { when: formatTime(x.deleted_at) }) : formatTime(x.expires_at))))))));
}
