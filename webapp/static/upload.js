/*
 * Resumable uploads of attachments and evidence (protocol: webapp/uploads.py).
 *
 * A form marked data-upload is sent in chunks instead of as one request: announce the file (POST
 * /uploads), then PUT it chunk by chunk with Upload-Offset, with a progress bar. A broken connection
 * is retried with growing pauses and resumes from the offset the server reports; the upload's id is
 * kept in localStorage, so choosing the same file again after a reload resumes as well. Without this
 * script (or without fetch/XHR) the form posts the file in one request to its action.
 * No inline script or style: everything comes from data-* attributes.
 */
(function () {
  'use strict';

  var MIB = 1024 * 1024;

  function mib(n) {
    return (n / MIB).toFixed(1).replace('.', ',') + ' MiB';
  }

  // As the server words a limit (processes/attachments.py, human_size).
  function limitText(n) {
    return n >= MIB ? Math.round(n / MIB) + ' MiB' : (n >= 1024 ? Math.round(n / 1024) + ' kB' : n + ' bytes');
  }

  function key(form, file) {
    return ['examenflow-upload', form.dataset.instance, form.dataset.kind, file.name, file.size,
      file.lastModified].join(':');
  }

  function remember(k, id) {
    try { if (id) { localStorage.setItem(k, id); } else { localStorage.removeItem(k); } } catch (e) { /* private mode */ }
  }

  function recall(k) {
    try { return localStorage.getItem(k); } catch (e) { return null; }
  }

  function request(method, url, csrf, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader('X-CSRFToken', csrf);
      xhr.setRequestHeader('Accept', 'application/json');
      Object.keys(headers || {}).forEach(function (h) { xhr.setRequestHeader(h, headers[h]); });
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      }
      xhr.onload = function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        resolve({ status: xhr.status, data: data || {} });
      };
      xhr.onerror = function () { reject(new Error('netwerk')); };
      xhr.ontimeout = function () { reject(new Error('netwerk')); };
      xhr.send(body);
    });
  }

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function setup(form) {
    var input = form.querySelector('input[type=file]');
    var box = form.querySelector('.upload-voortgang');
    var bar = form.querySelector('progress');
    var text = form.querySelector('.upload-tekst');
    var button = form.querySelector('button[type=submit]');
    var csrf = form.dataset.csrf;
    var beginUrl = form.dataset.beginUrl;
    var limit = parseInt(form.dataset.limit, 10);

    function say(message, failed) {
      box.hidden = false;
      text.textContent = message;
      form.classList.toggle('upload-fout', !!failed);
    }

    function show(done, total) {
      bar.max = total;
      bar.value = done;
      say(mib(done) + ' van ' + mib(total) + ' (' + Math.floor(done * 100 / total) + '%)');
    }

    function begin(file, k) {
      var known = recall(k);
      var start = known
        ? request('GET', beginUrl + '/' + encodeURIComponent(known), csrf, null).then(function (r) {
          return r.status === 200 && !r.data.done ? r : null;
        }, function () { return null; })
        : Promise.resolve(null);
      return start.then(function (resumed) {
        if (resumed) { return resumed.data; }
        var body = JSON.stringify({ instance_id: parseInt(form.dataset.instance, 10), kind: form.dataset.kind,
          name: file.name, content_type: file.type || 'application/octet-stream', size: file.size });
        return request('POST', beginUrl, csrf, body, { 'Content-Type': 'application/json' }).then(function (r) {
          if (r.status !== 201) { throw new Error(r.data.message || 'Het uploaden kon niet beginnen.'); }
          remember(k, r.data.id);
          return r.data;
        });
      });
    }

    function send(file, upload) {
      var url = beginUrl + '/' + encodeURIComponent(upload.id);
      var offset = upload.offset;
      var pause = 1000;
      function next() {
        if (offset >= file.size) { return Promise.resolve(upload); }
        var end = Math.min(file.size, offset + upload.chunk_size);
        show(offset, file.size);
        return request('PUT', url, csrf, file.slice(offset, end),
          { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
          function (loaded) { show(offset + loaded, file.size); }
        ).then(function (r) {
          if (r.status === 200) {
            pause = 1000;
            offset = r.data.offset;
            upload = r.data;
            return r.data.done ? r.data : next();
          }
          if (r.status === 409 && typeof r.data.offset === 'number') {
            offset = r.data.offset;
            return next();
          }
          if (r.status >= 500 || r.status === 0) { throw new Error('netwerk'); }
          var failure = new Error(r.data.message || 'Het uploaden is geweigerd.');
          failure.final = true;
          failure.keep = r.status === 401;  // logged out: after logging in again the same file resumes
          throw failure;
        }).catch(function (err) {
          if (err.final) { throw err; }
          // Broken connection or a server restart: ask where we are, then go on from there.
          say('Verbinding verbroken; opnieuw proberen over ' + Math.round(pause / 1000) + ' s (verder vanaf '
            + mib(offset) + ').', true);
          return wait(pause).then(function () {
            pause = Math.min(pause * 2, 30000);
            return request('GET', url, csrf, null).then(function (r) {
              if (r.status === 200) { offset = r.data.offset; upload = r.data; }
              return upload.done ? upload : next();
            }, function () { return next(); });
          });
        });
      }
      return next();
    }

    form.addEventListener('submit', function (event) {
      var file = input.files && input.files[0];
      if (!file || !window.XMLHttpRequest || !window.Promise || !file.slice) { return; }
      event.preventDefault();
      if (file.size > limit) {
        say('Het bestand is te groot: de grens is ' + limitText(limit) + ' per bestand.', true);
        return;
      }
      if (file.size === 0) {
        say('Het bestand is leeg.', true);
        return;
      }
      var k = key(form, file);
      button.disabled = true;
      begin(file, k).then(function (upload) { return send(file, upload); }).then(function () {
        remember(k, null);
        bar.value = bar.max;
        say('\u2019' + file.name + '\u2019 is opgeslagen.');
        window.location.reload();
      }, function (err) {
        if (err.message !== 'netwerk' && !err.keep) { remember(k, null); }
        button.disabled = false;
        say(err.message === 'netwerk' ? 'Geen verbinding met de server; kies het bestand opnieuw om verder te gaan.'
          : err.message, true);
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('form[data-upload]'), setup);
  });
}());
