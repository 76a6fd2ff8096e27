/*
 * The process editor (issue 6): bpmn-js Modeler with the properties panel beside the canvas
 * (bpmn-js-properties-panel with its Camunda 7 provider), plus Examenflow's own entries: a lane's
 * role, a user task's form and a gateway flow's school setting as a choice of what the server knows. Bundled by esbuild in
 * `examenflow assets` (webapp/assets.py) into static/vendor/editor/editor.js; never a CDN.
 *
 * Everything comes from data-* attributes on #proces-editor (templates/editor/edit.html). Saving
 * and checking post the XML to the server, which answers with findings {element_id, message};
 * each is shown on the canvas at its element (marker + overlay) and in the list beside it.
 * The bpmn.io watermark (.bjs-powered-by) stays visible: the panel sits beside the canvas.
 */
import Modeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
  useService
} from 'bpmn-js-properties-panel';
import { SelectEntry, isSelectEntryEdited } from '@bpmn-io/properties-panel';
import { h } from '@bpmn-io/properties-panel/preact';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

function readJson(el, name) {
  try { return JSON.parse(el.getAttribute(name) || '[]'); } catch (e) { return []; }
}

function is(element, type) {
  var bo = element && element.businessObject;
  return !!(bo && bo.$instanceOf && bo.$instanceOf(type));
}

function makeProviderModule(config) {
  function RoleEntry(props) {
    var element = props.element;
    var modeling = useService('modeling');
    return h(SelectEntry, {
      element: element,
      id: 'examenflow-rol',
      label: 'Rol (wie deze baan uitvoert)',
      getValue: function () { return element.businessObject.name || ''; },
      setValue: function (value) { modeling.updateProperties(element, { name: value }); },
      getOptions: function () {
        var current = element.businessObject.name || '';
        var options = [{ value: '', label: '— kies een rol —' }].concat(config.roles);
        if (current && !config.roles.some(function (r) { return r.value === current; })) {
          options.push({ value: current, label: 'onbekend: ' + current });
        }
        return options;
      }
    });
  }

  function FormEntry(props) {
    var element = props.element;
    var modeling = useService('modeling');
    return h(SelectEntry, {
      element: element,
      id: 'examenflow-formulier',
      label: 'Formulier',
      getValue: function () { return element.businessObject.get('camunda:formKey') || ''; },
      setValue: function (value) { modeling.updateProperties(element, { 'camunda:formKey': value || undefined }); },
      getOptions: function () {
        var current = element.businessObject.get('camunda:formKey') || '';
        var options = [{ value: '', label: '— kies een formulier —' }].concat(
          config.forms.map(function (key) { return { value: key, label: key }; }));
        if (current && config.forms.indexOf(current) === -1) {
          options.push({ value: current, label: 'onbekend: ' + current });
        }
        return options;
      }
    });
  }

  // A flow out of a gateway may test a school setting (data the diagram starts with): "is ja"
  // writes `setting == True`, "is nee" `setting != True`, as the shipped diagrams do.
  var SETTING_CONDITION = /^\s*([a-z_]+)\s*(==|!=)\s*True\s*$/;

  function SettingEntry(props) {
    var element = props.element;
    var modeling = useService('modeling');
    var bpmnFactory = useService('bpmnFactory');
    function current() {
      var condition = element.businessObject.conditionExpression;
      var match = SETTING_CONDITION.exec((condition && condition.body) || '');
      var known = match && config.settings.some(function (s) { return s.value === match[1]; });
      return known ? match[1] + (match[2] === '==' ? ':ja' : ':nee') : '';
    }
    return h(SelectEntry, {
      element: element,
      id: 'examenflow-instelling',
      label: 'Voorwaarde op een schoolinstelling',
      getValue: current,
      setValue: function (value) {
        if (!value) { return; }
        var parts = value.split(':');
        var body = parts[0] + (parts[1] === 'ja' ? ' == True' : ' != True');
        modeling.updateProperties(element, {
          conditionExpression: bpmnFactory.create('bpmn:FormalExpression', { body: body })
        });
      },
      getOptions: function () {
        var options = [{ value: '', label: '— eigen voorwaarde (zie Condition) —' }];
        config.settings.forEach(function (s) {
          options.push({ value: s.value + ':ja', label: s.label + ': ja' });
          options.push({ value: s.value + ':nee', label: s.label + ': nee' });
        });
        return options;
      }
    });
  }

  function fromGateway(element) {
    var source = element.businessObject.sourceRef;
    return !!(source && source.$instanceOf &&
      (source.$instanceOf('bpmn:ExclusiveGateway') || source.$instanceOf('bpmn:InclusiveGateway')));
  }

  function ExamenflowProvider(propertiesPanel) {
    propertiesPanel.registerProvider(400, this);
  }
  ExamenflowProvider.$inject = ['propertiesPanel'];
  ExamenflowProvider.prototype.getGroups = function (element) {
    return function (groups) {
      var entries = [];
      if (is(element, 'bpmn:Lane')) {
        entries.push({ id: 'examenflow-rol', element: element, component: RoleEntry, isEdited: isSelectEntryEdited });
      }
      if (is(element, 'bpmn:UserTask')) {
        entries.push({ id: 'examenflow-formulier', element: element, component: FormEntry, isEdited: isSelectEntryEdited });
      }
      if (is(element, 'bpmn:SequenceFlow') && fromGateway(element)) {
        entries.push({ id: 'examenflow-instelling', element: element, component: SettingEntry, isEdited: isSelectEntryEdited });
      }
      if (entries.length) {
        groups.splice(1, 0, { id: 'examenflow', label: 'Examenflow', entries: entries });
      }
      return groups;
    };
  };
  return { __init__: ['examenflowProvider'], examenflowProvider: ['type', ExamenflowProvider] };
}

function start(root) {
  var status = root.querySelector('.editor-status');
  var list = root.querySelector('.editor-bevindingen');
  var config = {
    roles: readJson(root, 'data-roles'),
    forms: readJson(root, 'data-forms'),
    settings: readJson(root, 'data-settings')
  };
  var csrf = root.getAttribute('data-csrf');
  var modeler = new Modeler({
    container: root.querySelector('.editor-canvas'),
    propertiesPanel: { parent: root.querySelector('.editor-eigenschappen') },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule,
      makeProviderModule(config)
    ],
    moddleExtensions: { camunda: camundaModdle }
  });
  window.examenflowEditor = modeler;
  var marked = [];

  function say(text, kind) {
    status.textContent = text;
    status.className = 'editor-status melding melding-' + (kind || 'info');
  }

  function clearFindings() {
    var canvas = modeler.get('canvas');
    var overlays = modeler.get('overlays');
    marked.forEach(function (id) { try { canvas.removeMarker(id, 'editor-fout'); } catch (e) { /* gone */ } });
    marked = [];
    overlays.remove({ type: 'editor-fout' });
    list.innerHTML = '';
  }

  function showFindings(findings) {
    clearFindings();
    var registry = modeler.get('elementRegistry');
    var canvas = modeler.get('canvas');
    var overlays = modeler.get('overlays');
    findings.forEach(function (f) {
      var li = document.createElement('li');
      li.textContent = (f.element_id ? f.element_id + ': ' : '') + f.message;
      if (f.element_id) { li.setAttribute('data-element-id', f.element_id); }
      list.appendChild(li);
      var shape = f.element_id && registry.get(f.element_id);
      if (!shape) { return; }
      li.tabIndex = 0;
      li.addEventListener('click', function () { modeler.get('selection').select(shape); });
      if (marked.indexOf(f.element_id) === -1) {
        canvas.addMarker(f.element_id, 'editor-fout');
        marked.push(f.element_id);
        var note = document.createElement('div');
        note.className = 'editor-fout-melding';
        note.setAttribute('data-element-id', f.element_id);
        note.textContent = f.message;
        overlays.add(f.element_id, 'editor-fout', { position: { top: -28, left: 0 }, html: note });
      }
    });
  }

  function post(url) {
    return modeler.saveXML({ format: true }).then(function (result) {
      return fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/xml', 'X-CSRFToken': csrf, Accept: 'application/json' },
        body: result.xml
      });
    }).then(function (resp) {
      return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
    });
  }

  function run(url, savedText) {
    say('Bezig…', 'info');
    return post(url).then(function (r) {
      if (!r.ok) { say(r.body.message || 'Er ging iets mis.', 'fout'); return; }
      var findings = r.body.findings || [];
      showFindings(findings);
      root.classList.toggle('editor-heeft-fouten', findings.length > 0);
      if (findings.length) {
        say((savedText ? savedText + ' ' : '') + findings.length + ' fout(en) gevonden; zie de gemarkeerde elementen.', 'fout');
      } else {
        say((savedText ? savedText + ' ' : '') + 'Geen fouten gevonden.', 'info');
      }
    }).catch(function (err) { say('Er ging iets mis: ' + err, 'fout'); });
  }

  root.querySelector('.editor-opslaan').addEventListener('click', function () {
    run(root.getAttribute('data-save-url'), 'Concept opgeslagen.');
  });
  root.querySelector('.editor-controleren').addEventListener('click', function () {
    run(root.getAttribute('data-check-url'), '');
  });
  var fileInput = root.querySelector('.editor-bestand');
  if (fileInput) {
    fileInput.addEventListener('change', function () {
      var file = fileInput.files && fileInput.files[0];
      if (!file) { return; }
      file.text().then(function (xml) { return modeler.importXML(xml); }).then(function (result) {
        clearFindings();
        var warnings = (result.warnings || []).length;
        say('Bestand ' + file.name + ' geopend' + (warnings ? ' (' + warnings + ' waarschuwing(en) bij het inlezen)' : '') +
            '. Controleer of sla het op om te zien wat de procesmotor niet kan uitvoeren.', 'info');
      }).catch(function (err) {
        say('Dit bestand kan niet worden geopend als BPMN-diagram: ' + (err && err.message ? err.message : err), 'fout');
      });
    });
  }

  fetch(root.getAttribute('data-xml-url'), { credentials: 'same-origin' })
    .then(function (resp) {
      if (!resp.ok) { throw new Error('HTTP ' + resp.status); }
      return resp.text();
    })
    .then(function (xml) { return modeler.importXML(xml); })
    .then(function () {
      modeler.get('canvas').zoom('fit-viewport');
      root.classList.add('editor-geladen');
      say('Diagram geladen.', 'info');
    })
    .catch(function (err) {
      root.classList.add('editor-laadfout');
      say('Het diagram kan niet worden geladen: ' + (err && err.message ? err.message : err), 'fout');
    });
}

var root = document.getElementById('proces-editor');
if (root) { start(root); }
