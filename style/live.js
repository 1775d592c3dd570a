// GridFlex live figures: progressive enhancement for a live event's page. Every
// `data-refresh-secs` seconds it fetches the figures alone (`data-live-src`, the server's
// `/events/{id}/live`) and swaps in the `#live-figures` block, so a form being filled (a
// cancel reason, say) is never reset.
// Without JavaScript the page still works: its "Refresh figures" link reloads it by hand.
(function () {
  'use strict';
  var block = document.getElementById('live-figures');
  if (!block || !window.fetch || !window.DOMParser) return;
  var secs = parseInt(block.getAttribute('data-refresh-secs'), 10);
  var src = block.getAttribute('data-live-src');
  if (!(secs > 0) || !src) return;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(src, {
      credentials: 'same-origin',
      headers: { 'Accept': 'text/html' },
      cache: 'no-store'
    })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('live-figures');
        var current = document.getElementById('live-figures');
        if (!fresh || !current) return;
        // Keep an open "chart as a table" open across the swap.
        var open = current.querySelector('details[open]');
        if (open && open.id) {
          var same = fresh.querySelector('#' + open.id);
          if (same) same.setAttribute('open', '');
        }
        current.replaceWith(document.importNode(fresh, true));
        // The event has ended: stop refreshing.
        if (!fresh.getAttribute('data-refresh-secs')) window.clearInterval(timer);
      })
      .catch(function () { /* keep the figures shown; try again next time */ })
      .then(function () { busy = false; });
  }

  var timer = window.setInterval(refresh, secs * 1000);
})();
