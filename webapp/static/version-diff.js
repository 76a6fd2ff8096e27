/*
 * The visual diff between two versions: the newer diagram in bpmn-js's NavigatedViewer with the
 * added elements marked `versie-nieuw` and the changed ones `versie-gewijzigd`.
 */
(function () {
  'use strict';
  var figure = document.querySelector('figure.versieverschil');
  if (!figure || !window.BpmnJS) { return; }
  function ids(name) {
    try { return JSON.parse(figure.getAttribute(name) || '[]'); } catch (e) { return []; }
  }
  var viewer = new window.BpmnJS({ container: figure.querySelector('.diagram-canvas') });
  fetch(figure.getAttribute('data-diagram-url'), { credentials: 'same-origin' })
    .then(function (resp) { if (!resp.ok) { throw new Error('HTTP ' + resp.status); } return resp.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      canvas.zoom('fit-viewport');
      [['data-added', 'versie-nieuw'], ['data-changed', 'versie-gewijzigd']].forEach(function (pair) {
        ids(pair[0]).forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, pair[1]); } });
      });
      figure.classList.add('diagram-geladen');
    })
    .catch(function (err) { figure.classList.add('diagram-fout'); if (window.console) { console.error(err); } });
}());
