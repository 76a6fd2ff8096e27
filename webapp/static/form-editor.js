/*
 * The form editor (issue 6): a form file of our own format (forms/README.md) edited field by field,
 * with a live preview rendered by the server from the same file the server validates with.
 * Attributes the editor does not show (max_length, min, max, role, …) are kept as they were.
 */
(function () {
  'use strict';
  var root = document.getElementById('formulier-editor');
  if (!root) { return; }
  var form = JSON.parse(root.getAttribute('data-form'));
  var types = JSON.parse(root.getAttribute('data-types'));
  var roles = JSON.parse(root.getAttribute('data-roles'));
  var csrf = root.getAttribute('data-csrf');
  var list = root.querySelector('.fe-velden');
  var status = root.querySelector('.fe-status');
  var preview = root.querySelector('.fe-voorbeeld');
  var timer = null;
  var counter = 0;

  function say(text, kind) {
    status.textContent = text;
    status.className = 'fe-status melding melding-' + (kind || 'info');
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function labelled(li, label, input) {
    var id = 'fe-' + (++counter);
    input.id = id;
    var wrap = el('div', { 'class': 'fe-rij' });
    wrap.appendChild(el('label', { 'for': id }, label));
    wrap.appendChild(input);
    li.appendChild(wrap);
    return input;
  }

  function optionsText(options) {
    return (options || []).map(function (o) { return o.value + '=' + o.label; }).join('\n');
  }

  function parseOptions(text) {
    return text.split('\n').map(function (line) { return line.trim(); }).filter(Boolean).map(function (line) {
      var at = line.indexOf('=');
      return at === -1 ? { value: line, label: line } : { value: line.slice(0, at).trim(), label: line.slice(at + 1).trim() };
    });
  }

  function fieldItem(field) {
    var li = el('li', { 'class': 'fe-veld' });
    li._field = field;
    var name = labelled(li, 'Naam (in de gegevens)', el('input', { type: 'text', 'class': 'fe-naam' }));
    name.value = field.name || '';
    var label = labelled(li, 'Label', el('input', { type: 'text', 'class': 'fe-label' }));
    label.value = field.label || '';
    var type = labelled(li, 'Soort', el('select', { 'class': 'fe-soort' }));
    types.forEach(function (t) { var o = el('option', { value: t }, t); type.appendChild(o); });
    type.value = field.type || 'text';
    var required = labelled(li, 'Verplicht', el('input', { type: 'checkbox', 'class': 'fe-verplicht' }));
    required.checked = !!field.required;
    var help = labelled(li, 'Hulptekst', el('input', { type: 'text', 'class': 'fe-hulp' }));
    help.value = field.help || '';
    var options = labelled(li, 'Keuzes (één per regel: waarde=Label)', el('textarea', { rows: '3', 'class': 'fe-keuzes' }));
    options.value = optionsText(field.options);
    var role = labelled(li, 'Rol (bij soort person)', el('select', { 'class': 'fe-rol' }));
    role.appendChild(el('option', { value: '' }, '—'));
    roles.forEach(function (r) { role.appendChild(el('option', { value: r }, r)); });
    role.value = field.role || '';
    var maxLength = labelled(li, 'Maximaal aantal tekens', el('input', { type: 'number', min: '1', 'class': 'fe-max-lengte' }));
    maxLength.value = field.max_length != null ? String(field.max_length) : '';
    var min = labelled(li, 'Laagste getal (bij integer)', el('input', { type: 'number', 'class': 'fe-min' }));
    min.value = field.min != null ? String(field.min) : '';
    var max = labelled(li, 'Hoogste getal (bij integer)', el('input', { type: 'number', 'class': 'fe-max' }));
    max.value = field.max != null ? String(field.max) : '';
    var when = labelled(li, 'Verplicht als veld …', el('input', { type: 'text', 'class': 'fe-als-veld' }));
    when.value = field.required_when ? field.required_when.field : '';
    var equals = labelled(li, '… de waarde heeft', el('input', { type: 'text', 'class': 'fe-als-waarde' }));
    equals.value = field.required_when ? String(field.required_when.equals) : '';
    var buttons = el('div', { 'class': 'fe-knoppen' });
    [['Omhoog', -1], ['Omlaag', 1]].forEach(function (b) {
      var btn = el('button', { type: 'button', 'class': 'link' }, b[0]);
      btn.addEventListener('click', function () {
        var sibling = b[1] < 0 ? li.previousElementSibling : li.nextElementSibling;
        if (sibling) { list.insertBefore(b[1] < 0 ? li : sibling, b[1] < 0 ? sibling : li); changed(); }
      });
      buttons.appendChild(btn);
    });
    var remove = el('button', { type: 'button', 'class': 'link fe-verwijderen' }, 'Verwijderen');
    remove.addEventListener('click', function () { li.remove(); changed(); });
    buttons.appendChild(remove);
    li.appendChild(buttons);
    return li;
  }

  function collect() {
    var result = {};
    Object.keys(form).forEach(function (k) { result[k] = form[k]; });
    result.title = root.querySelector('.fe-titel').value;
    var description = root.querySelector('.fe-omschrijving').value;
    if (description) { result.description = description; } else { delete result.description; }
    result.fields = Array.prototype.map.call(list.children, function (li) {
      var f = {};
      Object.keys(li._field).forEach(function (k) { f[k] = li._field[k]; });
      f.name = li.querySelector('.fe-naam').value.trim();
      f.label = li.querySelector('.fe-label').value;
      f.type = li.querySelector('.fe-soort').value;
      if (li.querySelector('.fe-verplicht').checked) { f.required = true; } else { delete f.required; }
      var help = li.querySelector('.fe-hulp').value;
      if (help) { f.help = help; } else { delete f.help; }
      var options = parseOptions(li.querySelector('.fe-keuzes').value);
      if (f.type === 'choice') { f.options = options; } else { delete f.options; }
      var role = li.querySelector('.fe-rol').value;
      if (f.type === 'person' && role) { f.role = role; } else { delete f.role; }
      setNumber(f, 'max_length', li.querySelector('.fe-max-lengte').value);
      setNumber(f, 'min', li.querySelector('.fe-min').value);
      setNumber(f, 'max', li.querySelector('.fe-max').value);
      var whenField = li.querySelector('.fe-als-veld').value.trim();
      if (whenField) {
        f.required_when = { field: whenField, equals: conditionValue(whenField, li.querySelector('.fe-als-waarde').value) };
      } else { delete f.required_when; }
      return f;
    });
    return result;
  }

  function setNumber(f, key, text) {
    var value = parseInt(text, 10);
    if (text !== '' && !isNaN(value)) { f[key] = value; } else { delete f[key]; }
  }

  // The value a required_when compares with has the type of the field it names.
  function conditionValue(fieldName, raw) {
    var target = Array.prototype.filter.call(list.children, function (li) {
      return li.querySelector('.fe-naam').value.trim() === fieldName;
    })[0];
    var type = target ? target.querySelector('.fe-soort').value : '';
    if (type === 'boolean' || type === 'confirm') { return raw === 'true' || raw === 'ja'; }
    if (type === 'integer' && /^-?\d+$/.test(raw.trim())) { return parseInt(raw, 10); }
    return raw;
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) { return { ok: resp.ok, body: data }; });
    });
  }

  function refresh() {
    post(root.getAttribute('data-preview-url'), collect()).then(function (r) {
      if (r.ok) {
        preview.innerHTML = r.body.html;  // rendered and escaped by the server's own templates
        root.classList.remove('fe-ongeldig');
        say('', 'info');
      } else {
        root.classList.add('fe-ongeldig');
        say(r.body.message || 'Het formulier is ongeldig.', 'fout');
      }
      root.classList.add('fe-voorbeeld-klaar');
    }).catch(function (err) { say('Er ging iets mis: ' + err, 'fout'); });
  }

  function changed() {
    root.classList.remove('fe-voorbeeld-klaar');
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  root.querySelector('.fe-titel').value = form.title || '';
  root.querySelector('.fe-omschrijving').value = form.description || '';
  (form.fields || []).forEach(function (f) { list.appendChild(fieldItem(f)); });
  root.addEventListener('input', changed);
  root.addEventListener('change', changed);
  root.querySelector('.fe-veld-toevoegen').addEventListener('click', function () {
    var item = fieldItem({ name: '', label: '', type: 'text' });
    list.appendChild(item);
    item.querySelector('.fe-naam').focus();
    changed();
  });
  root.querySelector('.fe-opslaan').addEventListener('click', function () {
    post(root.getAttribute('data-save-url'), collect()).then(function (r) {
      say(r.body.message || (r.ok ? 'Opgeslagen.' : 'Niet opgeslagen.'), r.ok ? 'info' : 'fout');
    }).catch(function (err) { say('Er ging iets mis: ' + err, 'fout'); });
  });
  refresh();
}());
