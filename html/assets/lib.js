// GovSvc pages: the small library both the workbench and the portal use.
// No framework: h() builds elements (never innerHTML with data), api()
// speaks JSON with the CSRF header, field() makes a labelled input.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// h('tag.class#id', {attr: v, onclick: fn}, ...children)
export function h(spec, attrs, ...kids) {
  if (attrs == null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    kids.unshift(attrs);
    attrs = {};
  }
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m ? m[1] : spec);
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
    }
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'for') el.htmlFor = v;
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'required') el[k] = !!v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, kids);
  return el;
}
function append(el, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}
export function mount(root, ...kids) { root.replaceChildren(); append(root, kids); return root; }

// ---------------------------------------------------------------- the API

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'http_' + status;
    this.field = e.field || null;
  }
}

const MESSAGES = {
  unauthenticated: '请先登录', bad_credentials: '用户名或密码错误',
  certificate_required: '未检测到数字证书', certificate_unknown: '证书未绑定用户或已吊销',
  forbidden: '无权进行此操作', csrf_failed: '会话校验失败，请重新登录',
  not_found: '未找到', invalid_state: '办件当前状态不允许此操作',
  version_conflict: '办件已被他人修改，请刷新后重试', notice_required: '请先打印相应通知书',
  duplicate: '重复提交', too_large: '文件过大', unsupported_media_type: '文件类型不支持（仅 PDF、JPEG、PNG、OFD）',
  validation_failed: '填写有误', rate_limited: '操作过于频繁，请稍后再试',
  unavailable: '系统暂时不可用，请稍后再试', invalid_request: '请求参数有误',
};
export function errorText(err) {
  if (!(err instanceof ApiError)) return '网络错误：' + (err && err.message || err);
  const base = MESSAGES[err.code] || '操作失败';
  return err.message && err.message !== base ? `${base}（${err.message}）` : base;
}

export const csrf = {
  get: () => sessionStorage.getItem('govsvc_csrf'),
  set: (t) => t ? sessionStorage.setItem('govsvc_csrf', t) : sessionStorage.removeItem('govsvc_csrf'),
};

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrf.get()) headers['X-CSRF-Token'] = csrf.get();
  const r = await fetch(path, init);
  let data = null;
  if (r.status !== 204 && (r.headers.get('content-type') || '').includes('json')) {
    data = await r.json().catch(() => null);
  }
  if (!r.ok) {
    const e = new ApiError(r.status, data);
    if (r.status === 401 && api.onUnauthenticated && !path.startsWith('/api/v1/sessions')) api.onUnauthenticated(e);
    throw e;
  }
  return data;
}
export const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') s.set(k, v);
  const t = s.toString();
  return t ? '?' + t : '';
};

// a raw upload with progress (fetch has none): PUT the file's bytes
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('PUT', path);
    x.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    x.setRequestHeader('X-File-Name', encodeURIComponent(file.name));
    x.setRequestHeader('Accept', 'application/json');
    if (csrf.get()) x.setRequestHeader('X-CSRF-Token', csrf.get());
    x.upload.onprogress = (e) => e.lengthComputable && onProgress && onProgress(e.loaded / e.total);
    x.onload = () => {
      let data = null;
      try { data = JSON.parse(x.responseText); } catch { /* not JSON */ }
      if (x.status >= 200 && x.status < 300) resolve(data); else reject(new ApiError(x.status, data));
    };
    x.onerror = () => reject(new Error('上传中断'));
    x.send(file);
  });
}

// ---------------------------------------------------------------- messages

export function flash(text, kind = 'ok') {
  const f = $('#flash');
  mount(f, h('p.' + kind, text));
  if (kind === 'ok') setTimeout(() => { if (f.textContent === text) f.replaceChildren(); }, 6000);
}
export const fail = (err) => flash(errorText(err), 'error');

// ---------------------------------------------------------------- forms

let uid = 0;
// field(label, input, {required, hint}): <div class=field><label>..</label>input<span error></div>
export function field(label, input, opts = {}) {
  if (!input.id) input.id = 'f' + (++uid);
  if (opts.required) { input.required = true; input.setAttribute('aria-required', 'true'); }
  const err = h('span.ferr', { id: input.id + '-err', 'aria-live': 'polite' });
  input.setAttribute('aria-describedby', err.id);
  return h('div.field', { dataset: { field: input.name || '' } },
    h('label', { for: input.id }, label, opts.required ? h('span.req', { 'aria-hidden': 'true' }, ' *') : null),
    input, opts.hint ? h('small.hint', opts.hint) : null, err);
}
export function input(name, attrs = {}) { return h('input', { name, type: 'text', ...attrs }); }
export function select(name, options, attrs = {}) {
  return h('select', { name, ...attrs },
    options.map(([v, t]) => h('option', { value: v, selected: attrs.value === v }, t)));
}
export function textarea(name, attrs = {}) { return h('textarea', { name, rows: 3, ...attrs }); }

export function setFieldError(form, name, text) {
  const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!el) return false;
  el.setAttribute('aria-invalid', 'true');
  const e = document.getElementById(el.id + '-err');
  if (e) e.textContent = text;
  return el;
}
export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const e of form.querySelectorAll('.ferr')) e.textContent = '';
}
// the server's 422 at its field (applicant.id_no, form.address, ...)
export function showServerError(form, err) {
  if (err instanceof ApiError && err.field) {
    const el = setFieldError(form, err.field, err.message || '填写有误');
    if (el) { el.focus(); flash(errorText(err), 'error'); return; }
  }
  fail(err);
}

// checks of the types of api.md's form fields (the server checks again)
export function checkIdCard(s) {
  if (!/^\d{17}[\dXx]$/.test(s)) return false;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += +s[i] * w[i];
  return '10X98765432'[sum % 11] === s[17].toUpperCase();
}
export function checkUscc(s) {
  const cs = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  s = s.toUpperCase();
  if (!/^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/.test(s)) return false;
  const w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += cs.indexOf(s[i]) * w[i];
  return cs[(31 - (sum % 31)) % 31] === s[17];
}
export const checkPhone = (s) => /^1[3-9]\d{9}$/.test(s) || /^0\d{2,3}-?\d{7,8}$/.test(s);
export function checkValue(type, v) {
  switch (type) {
    case 'id_card': return checkIdCard(v) || '身份证号码格式或校验位不正确';
    case 'uscc': return checkUscc(v) || '统一社会信用代码格式或校验位不正确';
    case 'phone': return checkPhone(v) || '电话号码格式不正确';
    case 'number': return (v !== '' && !isNaN(Number(v))) || '请输入数字';
    case 'date': return /^\d{4}-\d{2}-\d{2}$/.test(v) || '请输入日期（年-月-日）';
    default: return true;
  }
}
// validate(form): required fields and data-check types; marks and returns ok
export function validate(form) {
  clearErrors(form);
  let first = null;
  for (const el of form.querySelectorAll('input, select, textarea')) {
    if (el.disabled || el.type === 'checkbox' || el.type === 'file' || el.type === 'radio') continue;
    const v = el.value.trim();
    let msg = null;
    if (!v) { if (el.required) msg = '此项为必填项'; }
    else if (el.dataset.check) { const r = checkValue(el.dataset.check, v); if (r !== true) msg = r; }
    if (msg) { setFieldError(form, el.name, msg); first = first || el; }
  }
  if (first) { first.focus(); flash('请按提示修改标红的项目', 'error'); }
  return !first;
}

// ---------------------------------------------------------------- display

export const fmtTime = (s) => s ? s.replace('T', ' ').replace(/:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$/, '') : '';
export const fmtDate = (s) => s ? String(s).slice(0, 10) : '';
export const yuan = (fen) => (fen / 100).toFixed(2) + ' 元';

export const STATE = {
  draft: '待受理', in_progress: '办理中', suspended: '特别程序中', correction: '补正补齐中',
  completed: '已办结', rejected: '不予受理', abnormal: '异常', voided: '作废办结', deleted: '删除办结',
  forwarded: '已转报',
};
export const STEP = { accept: '受理', draft: '收件', handle: '初审', review: '复审', approve: '决定', complete: '办结' };
export const LEVEL = { normal: '正常', yellow: '黄色预警', red: '红色预警' };
export const NOTICE = {
  acceptance: '受理通知书', rejection: '不予受理通知书', correction: '补正补齐通知书',
  special_procedure: '特别程序告知书', extension: '延期通知书',
  approval_decision: '准予许可决定书', refusal_decision: '不予许可决定书',
};
export const RESULT_CODE = {
  0: '准予许可（发证）', 1: '不予许可', 2: '作废', 3: '删除', 4: '转报', 5: '补正未交作废', 6: '准予（不发证）',
};
export const ACTION = {
  accept: '受理', reject: '不予受理', request_correction: '补正补齐', resubmit: '补正后重新提交',
  pass: '通过', return: '退窗', suspend: '特别程序', resume: '特别程序结束', extend: '延期',
  complete: '办结', forward: '转报', void: '作废办结', delete: '删除办结',
};
export const PROCEDURE = {
  hearing: '听证', tendering: '招标', auction: '拍卖', inspection: '检验', testing: '检测',
  quarantine: '检疫', appraisal: '鉴定', expert_review: '专家评审', survey: '现场勘查',
};

export function levelMark(level) {
  const l = level || 'normal';
  return h('span.mark.' + l, { title: LEVEL[l] || l }, LEVEL[l] || l);
}

// table(columns [[title, row => cell]], rows, {onRow}) with keyboard-usable rows
export function table(cols, rows, opts = {}) {
  if (!rows.length) return h('p.muted', opts.empty || '没有记录');
  return h('table', h('thead', h('tr', cols.map(([t]) => h('th', { scope: 'col' }, t)))),
    h('tbody', rows.map((r) => h('tr', { class: opts.rowClass ? opts.rowClass(r) : null },
      cols.map(([, f]) => h('td', f(r)))))));
}

// a list page with 上一页/下一页 over api.md's cursors
export function pager(load, render, root) {
  const stack = [];
  let cursor = null;
  const token = root.dataset.pager = String(Number(root.dataset.pager || 0) + 1);
  const go = async (c) => {
    try {
      const data = await load(c);
      if (root.dataset.pager !== token) return;   // a newer query owns the list
      cursor = c;
      mount(root, render(data.items || []), h('div.pager',
        h('button', { type: 'button', disabled: !stack.length, onclick: () => go(stack.pop()) }, '上一页'),
        h('span', `第 ${stack.length + 1} 页`),
        h('button', { type: 'button', disabled: !data.next_cursor,
          onclick: () => { stack.push(cursor); go(data.next_cursor); } }, '下一页')));
    } catch (e) { mount(root, h('p.error', errorText(e))); }
  };
  go(null);
}

// a simple horizontal bar chart in SVG: [[label, value]]
export function barChart(title, pairs, opts = {}) {
  const NS = 'http://www.w3.org/2000/svg';
  const s = (tag, a, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(a)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  };
  const max = Math.max(1, ...pairs.map((p) => +p[1] || 0));
  const rowH = 24, labelW = 170, barW = 300;
  const svg = s('svg', { width: labelW + barW + 80, height: pairs.length * rowH + 8, role: 'img',
    'aria-label': title, class: 'chart' });
  pairs.forEach(([label, value], i) => {
    const y = i * rowH + 4, w = Math.round(((+value || 0) / max) * barW);
    svg.append(s('text', { x: 0, y: y + 15, class: 'cl' }, label));
    svg.append(s('rect', { x: labelW, y, width: Math.max(w, 1), height: rowH - 6, class: 'bar ' + (opts.cls || '') }));
    svg.append(s('text', { x: labelW + w + 6, y: y + 15, class: 'cv' }, opts.fmt ? opts.fmt(value) : String(value ?? '—')));
  });
  return h('figure.chart', h('figcaption', title), svg);
}

// open a printable notice in a window opened at the click (no popup block)
export function openNoticeWindow() {
  const w = window.open('about:blank', '_blank');
  return {
    go(url) { if (w && !w.closed) w.location.href = url; else window.open(url, '_blank'); },
    close() { if (w && !w.closed) w.close(); },
  };
}
