// privroute dashboard: fills the chain view from its JSON (the walk may take seconds). No library.
(function () {
  "use strict";
  var box = document.getElementById("chain");
  if (!box) { return; }
  function row(dl, name, value) {
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = name; dd.textContent = value === null || value === undefined ? "–" : String(value);
    dl.appendChild(dt); dl.appendChild(dd);
  }
  fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (s) {
      box.textContent = "";
      var h = document.createElement("h2");
      h.className = s.ok ? "ok" : "bad";
      h.textContent = s.ok ? "Chain verified through record " + s.verified_through
                           : "Chain broken at record " + s.first_bad;
      h.setAttribute("data-chain-ok", s.ok ? "true" : "false");
      box.appendChild(h);
      var dl = document.createElement("dl");
      dl.className = "chain";
      row(dl, "verified through record", s.verified_through);
      row(dl, "head record", s.head_seq);
      row(dl, "head hash", s.head_hash);
      row(dl, "signatures", s.signatures);
      row(dl, "checked at (UTC)", s.checked_at);
      row(dl, "records walked now", s.walked);
      row(dl, "problem", s.problem);
      box.appendChild(dl);
    })
    .catch(function (e) { box.textContent = "chain status unavailable: " + e.message; });
}());
