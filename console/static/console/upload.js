// Member import upload in chunks (no build step). A form marked data-chunked-import opens an import, sends the
// file slice by slice (each under the request size limit), starts it and goes to its progress page. Without
// JavaScript the same form posts the whole file at once.
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); } }
  ready(function () {
    var form = document.querySelector("form[data-chunked-import]");
    if (!form) { return; }
    var bar = document.getElementById("upload-bar");
    var note = document.getElementById("upload-note");
    function show(percent, text) {
      bar.hidden = false;
      bar.firstElementChild.style.width = percent + "%";
      bar.setAttribute("aria-valuenow", String(percent));
      note.textContent = text;
    }
    async function post(url, body, csrf) {
      var response = await fetch(url, { method: "POST", body: body, credentials: "same-origin",
                                        headers: { "X-CSRFToken": csrf } });
      var data = await response.json();
      if (!response.ok) { throw new Error((data.error && data.error.message) || response.statusText); }
      return data;
    }
    form.addEventListener("submit", async function (event) {
      var file = form.elements.file.files[0];
      if (!file) { return; }
      event.preventDefault();
      var csrf = form.elements.csrfmiddlewaretoken.value;
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        var opened = new FormData();
        opened.append("filename", file.name);
        opened.append("encoding", form.elements.encoding.value);
        var imp = await post(form.dataset.openUrl, opened, csrf);
        var seq = 0;
        for (var start = 0; start < file.size; start += imp.chunk_bytes, seq += 1) {
          show(Math.floor(start * 100 / file.size), form.dataset.uploading);
          await post(imp.chunk_url.replace("{seq}", String(seq)), file.slice(start, start + imp.chunk_bytes), csrf);
        }
        show(100, form.dataset.starting);
        var started = await post(imp.start_url, new FormData(), csrf);
        window.location.assign(started.url);
      } catch (error) {
        note.textContent = error.message;
        note.className = "error";
        button.disabled = false;
      }
    });
  });
})();
