/*
 * The process diagram in the exam dossier: a read-only bpmn-js NavigatedViewer (pan and zoom)
 * with the current step(s) marked `huidige-stap` and the completed ones `afgeronde-stap`.
 *
 * Everything comes from data-* attributes on `.procesdiagram` (see templates/dossier/_diagram.html),
 * so the page needs no inline script: data-diagram-url (the version's BPMN XML), data-current-elements
 * and data-done-elements (JSON lists of element ids). The fallback text stays visible unless the
 * diagram renders, so a missing or failing script leaves an honest message behind.
 * The bpmn.io watermark (.bjs-powered-by) is part of the licence and must stay visible.
 */
(function () {
  'use strict';

  // Constructed stylesheet: no <style> element or style attribute, so a strict CSP keeps working.
  var CSS = [
    '.procesdiagram { position: relative; margin: 0 0 1.5rem; }',
    '.procesdiagram .diagram-canvas { display: none; position: relative; width: 100%; height: 420px;',
    '  border: 1px solid #d0d4d9; border-radius: 4px; background: #fff; overflow: hidden; }',
    '@media (max-width: 40rem) { .procesdiagram .diagram-canvas { height: 320px; } }',
    '.procesdiagram.diagram-bezig .diagram-canvas, .procesdiagram.diagram-geladen .diagram-canvas { display: block; }',
    '.procesdiagram.diagram-bezig .diagram-fallback, .procesdiagram.diagram-geladen .diagram-fallback { display: none; }',
    '.huidige-stap .djs-visual > :nth-child(1) { stroke: #e07000 !important; stroke-width: 4px !important;',
    '  fill: #fff4e5 !important; }',
    '.afgeronde-stap .djs-visual > :nth-child(1) { stroke: #5b8a72 !important; fill: #eef4ef !important; }'
  ].join('\n');

  function addStyles() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    } catch (e) {
      var style = document.createElement('style');
      style.textContent = CSS;
      document.head.appendChild(style);
    }
  }

  function idList(value) {
    try {
      var list = JSON.parse(value || '[]');
      return Array.isArray(list) ? list.filter(function (id) { return typeof id === 'string'; }) : [];
    } catch (e) {
      return [];
    }
  }

  function fail(container, err) {
    container.classList.remove('diagram-bezig', 'diagram-geladen');
    container.classList.add('diagram-fout');
    if (window.console) { console.error('Procesdiagram:', err); }
  }

  function mark(viewer, ids, marker) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    ids.forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    });
  }

  function show(container) {
    var url = container.getAttribute('data-diagram-url');
    var current = idList(container.getAttribute('data-current-elements'));
    var done = idList(container.getAttribute('data-done-elements')).filter(function (id) {
      return current.indexOf(id) === -1;
    });
    var canvasEl = container.querySelector('.diagram-canvas');
    if (!url || !canvasEl) { return fail(container, 'geen diagram-URL of canvas'); }

    container.classList.add('diagram-bezig');   // canvas needs a size before bpmn-js measures it
    var viewer = new window.BpmnJS({ container: canvasEl });

    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/xml' } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error('HTTP ' + resp.status + ' voor ' + url); }
        return resp.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get('canvas');
        canvas.zoom('fit-viewport', 'auto');
        mark(viewer, done, 'afgeronde-stap');
        mark(viewer, current, 'huidige-stap');
        container.classList.remove('diagram-bezig');
        container.classList.add('diagram-geladen');

        var pending = null;
        window.addEventListener('resize', function () {
          clearTimeout(pending);
          pending = setTimeout(function () {
            canvas.resized();
            canvas.zoom('fit-viewport', 'auto');
          }, 150);
        });
      })
      .catch(function (err) {
        viewer.destroy();
        fail(container, err);
      });
  }

  function start() {
    var containers = document.querySelectorAll('.procesdiagram[data-diagram-url]');
    if (!containers.length) { return; }
    if (typeof window.BpmnJS !== 'function' || typeof window.fetch !== 'function') {
      Array.prototype.forEach.call(containers, function (c) { fail(c, 'bpmn-js is niet geladen'); });
      return;
    }
    addStyles();
    Array.prototype.forEach.call(containers, show);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
