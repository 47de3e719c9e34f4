// The staff workbench (工作台): login, 办件受理, 工作列表, the case page,
// 异常办结, 咨询处理, 电子监察.  Hash routes: #/worklist/todo, #/accept,
// #/case/NO, ...  Every change goes through api() with the CSRF header.
import {
  $, h, mount, api, q, upload, csrf, flash, fail, errorText, field, input, select, textarea,
  validate, showServerError, fmtTime, fmtDate, STATE, STEP, LEVEL, NOTICE,
  ACTION, PROCEDURE, RESULT_CODE, levelMark, table, pager, barChart, openNoticeWindow, ApiError,
} from '/assets/lib.js';

const app = $('#app');
let me = null;
const has = (role) => me && me.roles.includes(role);
const ROLE = { clerk: '窗口受理', handler: '承办', reviewer: '审核', approver: '审批', supervisor: '监察', admin: '管理员' };

api.onUnauthenticated = () => { me = null; csrf.set(null); showLogin('会话已结束，请重新登录'); };

// ---------------------------------------------------------------- shell

function navLinks() {
  const l = [];
  if (has('clerk')) l.push(['#/accept', '办件受理']);
  if (['clerk', 'handler', 'reviewer', 'approver'].some(has)) l.push(['#/worklist/todo', '工作列表']);
  l.push(['#/query', '办件查询']);
  if (has('clerk') || has('supervisor')) l.push(['#/abnormal', '异常办结']);
  l.push(['#/consult', '咨询处理']);
  if (has('supervisor')) l.push(['#/supervision', '预警监察'], ['#/stats', '统计分析']);
  l.push(['#/cards', '黄红牌'], ['#/rectify', '整改']);
  return l;
}
function renderShell() {
  const nav = $('#nav');
  nav.hidden = !me;
  // a link to the page shown starts it afresh (no hashchange then)
  mount(nav, me ? navLinks().map(([href, t]) => h('a', { href,
    onclick: () => { if (location.hash === href) route(); } }, t)) : []);
  mount($('#who'), me ? [
    h('span', `${me.name}（${me.roles.map((r) => ROLE[r] || r).join('、')}）${me.department ? ' · ' + me.department.name : ''}`),
    h('button', { type: 'button', id: 'logout', onclick: logout }, '退出'),
  ] : []);
  markNav();
}
function markNav() {
  const cur = location.hash.split('?')[0];
  for (const a of document.querySelectorAll('#nav a')) {
    const base = a.getAttribute('href');
    if (cur === base || (cur.startsWith(base.replace(/\/(todo|done)$/, '')) && base !== '#/')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function logout() {
  try { await api('DELETE', '/api/v1/sessions/current'); } catch { /* gone already */ }
  csrf.set(null);
  me = null;
  renderShell();
  location.hash = '#/';
  showLogin('已退出');
}

function showLogin(note) {
  renderShell();
  document.title = '登录 · 政务服务平台';
  const form = h('form.panel#login', { novalidate: true },
    h('h2', '工作人员登录'),
    note ? h('p.muted', note) : null,
    field('用户名', input('username', { autocomplete: 'username' }), { required: true }),
    field('密码', input('password', { type: 'password', autocomplete: 'current-password' }), { required: true }),
    h('div.actions',
      h('button.primary', { type: 'submit' }, '登录'),
      h('button', { type: 'button', id: 'cert-login', onclick: certLogin }, '证书登录')),
    h('p.muted', '证书登录：插入数字证书（浏览器会提示选择证书）后点击“证书登录”。'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!validate(form)) return;
    try {
      const s = await api('POST', '/api/v1/sessions',
        { username: form.username.value.trim(), password: form.password.value });
      await signedIn(s);
    } catch (err) { form.password.value = ''; fail(err); }
  });
  mount(app, h('div.narrow', form));
  form.username.focus();
}
async function certLogin() {
  try { await signedIn(await api('POST', '/api/v1/sessions/cert')); } catch (err) { fail(err); }
}
async function signedIn(s) {
  csrf.set(s.csrf_token);
  me = await api('GET', '/api/v1/me');
  renderShell();
  flash(`欢迎，${me.name}`);
  if (!location.hash || location.hash === '#/' || location.hash === '#/login') location.hash = defaultRoute();
  else route();
}
const defaultRoute = () => has('clerk') || has('handler') || has('reviewer') || has('approver')
  ? '#/worklist/todo' : has('supervisor') ? '#/supervision' : '#/query';

// ---------------------------------------------------------------- router

const routes = [
  [/^#\/worklist\/(todo|done)$/, (box) => worklist(box)],
  [/^#\/accept$/, () => acceptPage(null)],
  [/^#\/accept\/(\d+)$/, (no) => acceptPage(no)],
  [/^#\/case\/(\d+)$/, (no) => casePage(no, false)],
  [/^#\/abnormal\/(\d+)$/, (no) => casePage(no, true)],
  [/^#\/abnormal$/, () => abnormalPage()],
  [/^#\/query$/, () => queryPage()],
  [/^#\/consult$/, () => consultList()],
  [/^#\/consult\/(\d+)$/, (id) => consultPage(id)],
  [/^#\/supervision$/, () => warningsPage()],
  [/^#\/cards$/, () => cardsPage()],
  [/^#\/stats$/, () => statsPage()],
  [/^#\/rectify$/, () => rectifyPage()],
];
let keepFlash = false;     // a message that outlives the next navigation
async function route() {
  if (!me) return showLogin();
  const hash = location.hash.split('?')[0];
  markNav();
  if (!keepFlash) $('#flash').replaceChildren();
  keepFlash = false;
  for (const [re, fn] of routes) {
    const m = re.exec(hash);
    if (m) {
      mount(app, h('p.muted', '正在加载…'));
      try { await fn(...m.slice(1)); } catch (err) { mount(app, h('p.error', errorText(err))); }
      app.focus();
      return;
    }
  }
  location.replace(defaultRoute());
}
window.addEventListener('hashchange', route);

async function start() {
  try {
    me = await api('GET', '/api/v1/me');
    if (!csrf.get()) throw new ApiError(401, null); // a cookie without its token: sign in again
    renderShell();
    route();
  } catch {
    me = null;
    showLogin();
  }
}

// ---------------------------------------------------------------- helpers

const itemName = (it) => (it && typeof it === 'object' ? it.name : it) || '';
const caseLink = (no, prefix = '#/case/') => h('a', { href: prefix + no }, no);
const dl = (pairs) => h('dl.kv', pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', k), h('dd', v)]));

// a native <dialog> with a form: resolves with the form, or null
function dialogForm(title, fields, submitLabel, extra) {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog', novalidate: true }, h('h3', title), fields,
      extra || null,
      h('div.actions', h('button.primary', { type: 'submit', value: 'ok' }, submitLabel),
        h('button', { type: 'button', onclick: () => { d.close(); } }, '取消')));
    const d = h('dialog', form);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!validate(form)) return;
      resolve(form); d.close();
    });
    d.addEventListener('close', () => { d.remove(); resolve(null); });
    document.body.append(d);
    d.showModal();
  });
}

// ---------------------------------------------------------------- 工作列表

async function worklist(box) {
  document.title = '工作列表 · 政务服务平台';
  const list = h('div#list');
  mount(app, h('h2', '工作列表'),
    h('nav.tabs', { 'aria-label': '列表' },
      h('a', { href: '#/worklist/todo', 'aria-current': box === 'todo' ? 'page' : null }, '待办列表'),
      h('a', { href: '#/worklist/done', 'aria-current': box === 'done' ? 'page' : null }, '已办列表')),
    h('p.muted', box === 'todo' ? '按到期日排列，最紧急的在前；黄色：临近期限，红色：已超期。' : '本人办理过的办件，最近的在前。'),
    list);
  pager((c) => api('GET', '/api/v1/worklist' + q({ box, limit: 20, cursor: c })), (rows) => table([
    ['办件编号', (r) => caseLink(r.case_no)],
    ['项目名称', (r) => r.project_name],
    ['事项', (r) => itemName(r.item)],
    ['状态/环节', (r) => `${STATE[r.state] || r.state || ''}${r.step ? ' · ' + (STEP[r.step] || r.step) : ''}`],
    ['收件时间', (r) => fmtTime(r.received_at)],
    ['到期日', (r) => fmtDate(r.due_date)],
    ['预警', (r) => levelMark(r.level)],
  ], rows, { rowClass: (r) => r.level, empty: box === 'todo' ? '没有待办办件' : '没有已办办件' }), list);
}

// ---------------------------------------------------------------- 办件查询

function queryPage() {
  document.title = '办件查询 · 政务服务平台';
  const list = h('div');
  const form = h('form.panel', { novalidate: true },
    h('div.grid',
      field('关键字（编号、项目、申请人）', input('q')),
      field('状态', select('state', [['', '全部'], ...Object.entries(STATE)])),
      field('预警', select('level', [['', '全部'], ...Object.entries(LEVEL)])),
      field('收件日期自', input('from', { type: 'date' })),
      field('至', input('to', { type: 'date' }))),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  const run = () => pager((c) => api('GET', '/api/v1/cases' + q({
    q: form.q.value.trim(), state: form.state.value, level: form.level.value,
    from: form.from.value, to: form.to.value, limit: 20, cursor: c,
  })), (rows) => table([
    ['办件编号', (r) => caseLink(r.case_no)],
    ['项目名称', (r) => r.project_name],
    ['事项', (r) => itemName(r.item)],
    ['状态', (r) => `${STATE[r.state] || r.state}${r.step ? ' · ' + (STEP[r.step] || r.step) : ''}`],
    ['收件时间', (r) => fmtTime(r.received_at)],
    ['预警', (r) => r.level ? levelMark(r.level) : ''],
  ], rows, { rowClass: (r) => r.level }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '办件查询'), form, list);
  run();
}

// ---------------------------------------------------------------- 办件受理

async function acceptPage(caseNo) {
  document.title = '办件受理 · 政务服务平台';
  if (!has('clerk')) return mount(app, h('p.error', '办件受理需要窗口受理人员角色'));
  let cas = caseNo ? await api('GET', `/api/v1/cases/${caseNo}`) : null;
  if (cas && !['draft', 'correction'].includes(cas.state)) { location.replace('#/case/' + caseNo); return; }
  let item = cas ? await api('GET', `/api/v1/items/${encodeURIComponent(cas.item.code)}`) : null;
  let printed = null;      // {kind, version}
  let dirty = false;

  const pick = h('section#pick');
  const formBox = h('div#caseform');
  mount(app, h('h2', cas ? `办件受理 · ${cas.case_no}` : '办件受理'), pick, formBox);

  // 1. 事项选择
  if (!cas) {
    const results = h('div');
    const sf = h('form', { novalidate: true, role: 'search' },
      h('h3', '① 选择事项'),
      h('div.actions', field('事项名称或编码', input('q', { id: 'item-q' })),
        h('button.primary', { type: 'submit' }, '查询事项')));
    const search = async () => {
      try {
        const r = await api('GET', '/api/v1/items' + q({ q: sf.q.value.trim(), limit: 50 }));
        const mine = (r.items || []).filter((i) => !me.department || i.department === me.department.id);
        mount(results, table([
          ['事项编码', (i) => i.code], ['事项名称', (i) => i.name],
          ['承诺时限', (i) => `${i.promised_days} 个工作日`],
          ['', (i) => h('button', { type: 'button', onclick: () => choose(i) }, '选择')],
        ], mine, { empty: '本部门没有匹配的事项' }));
      } catch (err) { fail(err); }
    };
    sf.addEventListener('submit', (e) => { e.preventDefault(); search(); });
    mount(pick, sf, results);
    search();
  } else {
    mount(pick, h('h3', '事项'), dl([['事项', `${item.name}（${item.code}）`], ['状态', STATE[cas.state]],
      ['收件时间', fmtTime(cas.received_at)]]),
      cas.correction ? h('p.error', `补正补齐（第 ${cas.correction.round} 次）：${cas.correction.reason}；期限 ${fmtDate(cas.correction.deadline)}；材料 ${cas.correction.materials.join('、')}`) : null);
    render();
  }

  async function choose(i) {
    item = await api('GET', `/api/v1/items/${encodeURIComponent(i.code)}`);
    mount(pick, h('h3', '① 事项'), dl([['事项', `${item.name}（${item.code}）`],
      ['承诺时限', `${item.promised_days} 个工作日（法定 ${item.legal_days}）`]]),
      h('button', { type: 'button', onclick: () => acceptPage(null) }, '重新选择事项'));
    render();
  }

  function render() {
    const a = cas ? cas.applicant : { type: 'person' };
    const idInput = input('applicant.id_no', { value: a.id_no, 'data-check': a.type === 'org' ? 'uscc' : 'id_card' });
    const typeSel = select('applicant.type', [['person', '申请人（个人）'], ['org', '申请单位']], { value: a.type });
    typeSel.addEventListener('change', () => {
      idInput.dataset.check = typeSel.value === 'org' ? 'uscc' : 'id_card';
      idField.querySelector('label').firstChild.textContent = typeSel.value === 'org' ? '统一社会信用代码' : '身份证号码';
      nameField.querySelector('label').firstChild.textContent = typeSel.value === 'org' ? '单位名称' : '姓名';
    });
    const nameField = field(a.type === 'org' ? '单位名称' : '姓名', input('applicant.name', { value: a.name }), { required: true });
    const idField = field(a.type === 'org' ? '统一社会信用代码' : '身份证号码', idInput, { required: true });
    const form = h('form#accept-form', { novalidate: true },
      h('section', h('h3', '② 受理信息'),
        h('div.grid',
          field('项目名称', input('project_name', { value: cas && cas.project_name, size: 40 }), { required: true }),
          field('申请对象', typeSel),
          nameField, idField,
          field('联系电话', input('applicant.phone', { value: a.phone, 'data-check': 'phone', type: 'tel' }), { required: true }),
          field('地址', input('applicant.address', { value: a.address }))),
        item.fields.length ? h('h3', '申请信息') : null,
        h('div.grid', item.fields.map((f) => field(f.label,
          input('form.' + f.name, {
            value: cas && cas.form ? cas.form[f.name] : '',
            type: f.type === 'date' ? 'date' : f.type === 'number' ? 'number' : f.type === 'phone' ? 'tel' : 'text',
            'data-check': f.type === 'text' ? null : f.type, step: f.type === 'number' ? 'any' : null,
          }), { required: f.required })))),
      h('section', h('h3', '③ 申请材料'),
        h('ul.checklist', item.materials.map((m) => {
          const cm = cas && cas.materials.find((x) => x.code === m.code);
          return h('li', { dataset: { material: m.code } },
            h('input', { type: 'checkbox', name: 'mat.' + m.code, id: 'mat-' + m.code, checked: cm ? cm.received : false }),
            h('label', { for: 'mat-' + m.code }, ` ${m.name}`, m.required ? h('span.req', ' *（必交）') : ''),
            ' ', uploadBox(m, cm));
        })),
        h('span.ferr', { id: 'materials-err' })),
      h('div.actions',
        h('button.primary', { type: 'submit', id: 'save' }, cas ? '保存（临时保留）' : '提交材料（临时保留）'),
        cas && cas.state === 'correction' ? h('button', { type: 'button', id: 'resubmit', onclick: resubmit }, '补正材料已交，重新受理') : null));
    form.addEventListener('input', (e) => { if (e.target.type === 'file') return; dirty = true; printed = null; updateOutcomes(); });
    form.addEventListener('submit', (e) => { e.preventDefault(); save(form); });
    mount(formBox, form, outcomes());
    updateOutcomes();
  }

  function uploadBox(m, cm) {
    const files = h('span.files', (cm ? cm.files : []).map((f) => h('a', { href: `/api/v1/files/${f.id}` }, f.name, ' ')));
    if (!cas) return h('span.muted', '（保存后可上传附件）');
    const fi = h('input', { type: 'file', id: 'file-' + m.code, accept: 'application/pdf,image/jpeg,image/png,.ofd', 'aria-label': `上传 ${m.name}` });
    const prog = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': `${m.name} 上传进度` });
    fi.addEventListener('change', async () => {
      const file = fi.files[0];
      if (!file) return;
      prog.hidden = false;
      try {
        const f = await upload(`/api/v1/cases/${cas.case_no}/materials/${encodeURIComponent(m.code)}/files`,
          file, (p) => { prog.value = p; });
        files.append(h('a', { href: `/api/v1/files/${f.id}` }, f.name, ' '));
        flash(`已上传：${f.name}`);
        cas = await api('GET', `/api/v1/cases/${cas.case_no}`);
        printed = null;
        updateOutcomes();
      } catch (err) { fail(err); }
      prog.hidden = true; fi.value = '';
    });
    return h('span', h('label.muted', { for: fi.id }, '附件：'), fi, prog, files);
  }

  function body(form) {
    const v = (n) => form.elements[n].value.trim();
    const applicant = { type: v('applicant.type'), name: v('applicant.name'),
      id_type: v('applicant.type') === 'org' ? 'uscc' : 'id_card', id_no: v('applicant.id_no').toUpperCase(),
      phone: v('applicant.phone') };
    if (v('applicant.address')) applicant.address = v('applicant.address');
    const f = {};
    for (const d of item.fields) {
      const val = v('form.' + d.name);
      if (val !== '') f[d.name] = d.type === 'number' ? Number(val) : val;
    }
    return { project_name: v('project_name'), applicant, form: f,
      materials: item.materials.map((m) => ({ code: m.code, received: form.elements['mat.' + m.code].checked })) };
  }

  async function save(form) {
    if (!validate(form)) return false;
    const b = body(form);
    try {
      if (!cas) {
        cas = await api('POST', '/api/v1/cases', { item_code: item.code, channel: 'window', ...b });
        flash(`已保存，办件编号 ${cas.case_no}`);
        history.replaceState(null, '', '#/accept/' + cas.case_no);
      } else {
        cas = await api('PATCH', `/api/v1/cases/${cas.case_no}`, { version: cas.version, ...b });
        flash('已临时保留');
      }
      dirty = false; printed = null;
      render();
      return true;
    } catch (err) {
      if (err.field === 'materials') { $('#materials-err').textContent = err.message; flash(errorText(err), 'error'); }
      else showServerError(form, err);
      return false;
    }
  }

  async function resubmit() {
    try {
      cas = await api('POST', `/api/v1/cases/${cas.case_no}/actions`, { action: 'resubmit', version: cas.version });
      flash('已重新进入受理');
      acceptPage(cas.case_no);
    } catch (err) { fail(err); }
  }

  // the three outcomes: each lights up only after its notice was printed
  function outcomes() {
    const box = h('section#outcomes', h('h3', '④ 受理操作'),
      h('p.muted', '先打印通知书，对应的操作按钮才可使用。材料或信息改动后需重新保存并打印。'));
    if (!cas || cas.state !== 'draft') {
      box.append(h('p.muted', cas ? '补正补齐中：收到补正材料后点击“补正材料已交，重新受理”。' : '请先提交材料（保存办件）。'));
      return box;
    }
    box.append(
      h('div.actions', h('button#print-acceptance', { type: 'button', onclick: () => print('acceptance', {}) }, '打印受理通知书'),
        h('button.primary#do-accept', { type: 'button', disabled: true, onclick: () => act('accept', {}) }, '受理')),
      h('div.actions', h('button.danger#open-reject', { type: 'button', onclick: rejectDialog }, '不予受理…'),
        h('button.danger#open-correction', { type: 'button', onclick: correctionDialog }, '补正补齐…')));
    return box;
  }
  function updateOutcomes() {
    const b = $('#do-accept');
    if (b) b.disabled = !(printed && printed.kind === 'acceptance' && printed.version === cas.version && !dirty);
    for (const id of ['#print-acceptance', '#open-reject', '#open-correction']) {
      const x = $(id);
      if (x) x.title = dirty ? '请先保存改动' : '';
    }
  }

  async function print(kind, params) {
    if (dirty) { flash('请先保存改动（临时保留）', 'error'); return false; }
    const w = openNoticeWindow();
    try {
      const n = await api('POST', `/api/v1/cases/${cas.case_no}/notices`, { kind, ...params });
      w.go(n.url);
      printed = { kind, version: cas.version, params, notice: n };
      flash(`${NOTICE[kind]} ${n.notice_no} 已生成，请在新窗口中打印`);
      updateOutcomes();
      return true;
    } catch (err) { w.close(); fail(err); return false; }
  }

  async function act(action, params) {
    try {
      const r = await api('POST', `/api/v1/cases/${cas.case_no}/actions`, { action, version: cas.version, ...params });
      cas = r;
      const done = h('section#done', h('h3', `已${ACTION[action]}`), dl([
        ['办件编号', caseLink(r.case_no)], ['状态', STATE[r.state]],
        ['查询密码', r.query_password ? h('strong#query-password', r.query_password) : null],
        ['承诺办结日期', fmtDate(r.promised_date)]]),
      r.query_password ? h('p.muted', '查询密码只显示这一次，已打印在受理通知书上，请交给申请人。') : null,
      h('div.actions', h('a', { href: '#/accept' }, '受理下一件'), h('a', { href: '#/case/' + r.case_no }, '查看办件')));
      history.replaceState(null, '', '#/accept');
      mount(app, h('h2', '办件受理'), done);
      flash(`办件 ${r.case_no} 已${ACTION[action]}`);
    } catch (err) { fail(err); }
  }

  function printedGate(kind, btnLabel) {
    // inside a dialog: print first, then the action button lights up
    const doBtn = h('button.primary', { type: 'button', disabled: true }, btnLabel || NOTICE[kind].replace(/通知书$/, ''));
    const printBtn = h('button', { type: 'button' }, '打印' + NOTICE[kind]);
    return { printBtn, doBtn };
  }

  async function rejectDialog() {
    if (dirty) return flash('请先保存改动（临时保留）', 'error');
    const reason = textarea('reason', { id: 'reject-reason' });
    const { printBtn, doBtn } = printedGate('rejection', '不予受理');
    const d = h('dialog', h('form', { novalidate: true },
      h('h3', '不予受理'), field('不予受理理由', reason, { required: true }),
      h('div.actions', printBtn, doBtn, h('button', { type: 'button', onclick: () => d.close() }, '取消'))));
    let params = null;
    printBtn.id = 'print-rejection'; doBtn.id = 'do-reject';
    reason.addEventListener('input', () => { doBtn.disabled = true; });
    printBtn.addEventListener('click', async () => {
      if (!validate(d.querySelector('form'))) return;
      params = { reason: reason.value.trim() };
      if (await print('rejection', params)) doBtn.disabled = false;
    });
    doBtn.addEventListener('click', async () => { d.close(); await act('reject', params); });
    d.addEventListener('close', () => d.remove());
    document.body.append(d); d.showModal();
  }

  async function correctionDialog() {
    if (dirty) return flash('请先保存改动（临时保留）', 'error');
    const reason = textarea('reason', { id: 'correction-reason' });
    const days = select('deadline_days', [1, 2, 3, 4, 5].map((n) => [String(n), `${n} 个工作日`]), { value: '5', id: 'correction-days' });
    const mats = h('fieldset', h('legend', '需补正补齐的材料'), item.materials.map((m) => h('div',
      h('input', { type: 'checkbox', id: 'corr-' + m.code, value: m.code, name: 'corr' }),
      h('label', { for: 'corr-' + m.code }, ' ' + m.name))));
    const { printBtn, doBtn } = printedGate('correction', '补正补齐');
    printBtn.id = 'print-correction'; doBtn.id = 'do-correction';
    const form = h('form', { novalidate: true }, h('h3', '补正补齐'),
      field('处理原因', reason, { required: true }), field('补正补齐期限', days), mats,
      h('span.ferr#corr-err'),
      h('div.actions', printBtn, doBtn, h('button', { type: 'button', onclick: () => d.close() }, '取消')));
    const d = h('dialog', form);
    let params = null;
    form.addEventListener('input', () => { doBtn.disabled = true; });
    printBtn.addEventListener('click', async () => {
      if (!validate(form)) return;
      const materials = [...form.querySelectorAll('input[name=corr]:checked')].map((x) => x.value);
      if (!materials.length) { $('#corr-err').textContent = '请勾选需补正的材料'; return; }
      params = { reason: reason.value.trim(), deadline_days: Number(days.value), materials };
      if (await print('correction', params)) doBtn.disabled = false;
    });
    doBtn.addEventListener('click', async () => { d.close(); await act('request_correction', params); });
    d.addEventListener('close', () => d.remove());
    document.body.append(d); d.showModal();
  }
}

// ---------------------------------------------------------------- the case page

async function casePage(no, abnormal) {
  document.title = `办件 ${no} · 政务服务平台`;
  const c = await api('GET', `/api/v1/cases/${no}`);
  let item = null;
  try { item = await api('GET', `/api/v1/items/${encodeURIComponent(c.item.code)}`); } catch { /* another node's item */ }
  const stepName = (code) => (item && item.steps.find((s) => s.code === code) || {}).name || STEP[code] || code;
  const fieldLabel = (n) => (item && item.fields.find((f) => f.name === n) || {}).label || n;
  const d = c.deadline || {};
  const a = c.applicant || {};

  mount(app,
    h('h2', `办件 ${c.case_no}`),
    h('section#case-data', h('h3', '办件信息'), dl([
      ['项目名称', c.project_name], ['事项', `${c.item.name}（${c.item.code}）`],
      ['状态', h('strong#case-state', STATE[c.state] || c.state)],
      ['当前环节', c.step ? stepName(c.step) : ''],
      ['结果', c.result_code != null ? RESULT_CODE[c.result_code] || c.result_code : c.result],
      ['部门', c.department && c.department.name],
      ['申请人', `${a.name || ''}（${a.type === 'org' ? '单位' : '个人'}）`],
      [a.type === 'org' ? '统一社会信用代码' : '身份证号码', a.id_no], ['联系电话', a.phone], ['地址', a.address],
      ...Object.entries(c.form || {}).map(([k, v]) => [fieldLabel(k), String(v)]),
      ['收件时间', fmtTime(c.received_at)], ['受理时间', fmtTime(c.accepted_at)], ['承诺办结日期', fmtDate(c.promised_date)],
    ])),
    c.deadline ? h('section#deadline', h('h3', '办理时限'), dl([
      ['时限类型', d.kind === 'deemed_acceptance' ? '受理时限（逾期视为受理）' : '承诺时限'],
      ['到期日', fmtDate(d.due_date)],
      ['剩余工作日', d.remaining_working_days != null ? String(d.remaining_working_days) : ''],
      ['预警', levelMark(d.level)],
      ['计时', d.paused ? '暂停（特别程序中）' : '正常计时'],
      ['本环节', d.step_overdue ? h('span.mark.red', '环节超时') : '未超时'],
    ])) : null,
    c.correction ? h('section', h('h3', '补正补齐'), dl([['原因', c.correction.reason],
      ['期限', fmtDate(c.correction.deadline)], ['材料', (c.correction.materials || []).join('、')], ['次数', String(c.correction.round)]])) : null,
    h('section#materials', h('h3', '申请材料'), table([
      ['材料', (m) => `${m.name}${m.required ? '（必交）' : ''}`],
      ['收取', (m) => m.received ? '已收' : '未收'],
      ['附件', (m) => (m.files || []).map((f) => h('a', { href: `/api/v1/files/${f.id}` }, f.name, ' '))],
    ], c.materials || [])),
    h('section#opinions', h('h3', '办理意见'), (c.opinions || []).length ? h('ol.opinions', c.opinions.map((o) => h('li',
      h('strong', `${stepName(o.step)} · ${ACTION[o.action] || o.action}`), ` ${o.actor ? o.actor.name : ''} ${fmtTime(o.at)}`,
      o.opinion ? h('div', o.opinion) : null))) : h('p.muted', '暂无意见')),
    h('section#notices', h('h3', '通知书'), (c.notices || []).length ? h('ul', c.notices.map((n) => h('li',
      h('a', { href: `/api/v1/notices/${n.notice_no}`, target: '_blank', rel: 'noopener' }, `${NOTICE[n.kind] || n.kind} ${n.notice_no}`),
      ` ${fmtTime(n.issued_at)}`))) : h('p.muted', '暂无')),
    (c.special_procedures || []).length ? h('section', h('h3', '特别程序'), table([
      ['程序', (s) => PROCEDURE[s.kind] || s.kind], ['原因', (s) => s.reason], ['开始', (s) => fmtTime(s.started_at)],
      ['结束', (s) => fmtTime(s.ended_at)], ['天数', (s) => s.days], ['结果', (s) => s.result || ''],
    ], c.special_procedures)) : null,
    caseActions(c, abnormal, stepName));
}

function caseActions(c, abnormal, stepName) {
  const box = h('section#actions', h('h3', '办理'));
  const post = async (action, params, msg) => {
    try {
      await api('POST', `/api/v1/cases/${c.case_no}/actions`, { action, version: c.version, ...params });
      await route();
      flash(msg || `已${ACTION[action]}`);
      return true;
    } catch (err) { fail(err); return false; }
  };
  // a notice then its action: the action lights up once printed with the same parameters
  const gated = (kind, label, getParams, action, actionParams) => {
    let params = null;
    const doBtn = h('button.primary', { type: 'button', disabled: true, id: 'do-' + action }, label);
    const printBtn = h('button', { type: 'button', id: 'print-' + kind }, '打印' + NOTICE[kind]);
    printBtn.addEventListener('click', async () => {
      const p = getParams();
      if (!p) return;
      const w = openNoticeWindow();
      try {
        const n = await api('POST', `/api/v1/cases/${c.case_no}/notices`, { kind, ...p });
        w.go(n.url);
        params = p; doBtn.disabled = false;
        flash(`${NOTICE[kind]} ${n.notice_no} 已生成，请在新窗口中打印`);
      } catch (err) { w.close(); fail(err); }
    });
    doBtn.addEventListener('click', () => post(action, actionParams ? actionParams(params) : params));
    return { printBtn, doBtn, reset: () => { doBtn.disabled = true; } };
  };
  // the server lists what this user may do now (govsvc_case_actions)
  const may = (action) => (c.actions || []).includes(action);
  let any = false;
  if (c.read_only) {   // a copy held for a node below: acted on there
    box.append(h('p.muted', '这是下级节点办件的只读副本，只能在办理节点操作。'));
    return box;
  }

  // opened from 异常办结: the page is about ending it, not accepting it
  if ((may('accept') || may('resubmit')) && !abnormal) {
    any = true;
    box.append(h('p', h('a', { href: '#/accept/' + c.case_no, id: 'to-accept' }, '进入办件受理')));
  }

  if (may('pass')) {
    any = true;
    const f = h('form#step-form', { novalidate: true },
      field('审批意见', textarea('opinion', { id: 'opinion' }), { required: true }),
      h('div.actions',
        h('button.primary#do-pass', { type: 'submit' }, `完成${stepName(c.step)}`),
        may('return') ? h('button.danger#do-return', { type: 'button' }, '退窗') : null));
    f.addEventListener('submit', (e) => { e.preventDefault(); if (validate(f)) post('pass', { opinion: f.opinion.value.trim() }, `已完成${stepName(c.step)}`); });
    f.querySelector('#do-return')?.addEventListener('click', () => {
      if (validate(f) && confirm('确定退窗（否决办理）？')) post('return', { opinion: f.opinion.value.trim() }, '已退窗');
    });
    box.append(f);
  }

  if (may('suspend')) {
    any = true;
    const sf = h('form#special-form', { novalidate: true }, h('h3', '特别程序申请'),
      h('div.grid',
        field('程序', select('procedure', Object.entries(PROCEDURE), { id: 'sp-procedure' })),
        field('预计工作日', input('days', { type: 'number', min: 1, value: '5', id: 'sp-days' }), { required: true }),
        field('原因', input('reason', { id: 'sp-reason' }), { required: true })));
    const g = gated('special_procedure', '开始特别程序', () => validate(sf) ? {
      procedure: sf.procedure.value, reason: sf.reason.value.trim(), days: Number(sf.days.value) } : null, 'suspend');
    sf.addEventListener('input', g.reset);
    sf.append(h('div.actions', g.printBtn, g.doBtn));
    box.append(sf);
  }

  const extended = (c.opinions || []).some((o) => o.action === 'extend');
  if (c.state === 'in_progress' && c.step !== 'complete' && has('approver') && extended) {
    box.append(h('p.muted', '本办件已延期（延期只能一次）。'));
  }
  if (may('extend')) {
    any = true;
    const ef = h('form#extend-form', { novalidate: true }, h('h3', '延期（一次，至多 10 个工作日）'),
      h('div.grid', field('延期工作日', input('days', { type: 'number', min: 1, max: 10, value: '3', id: 'ext-days' }), { required: true }),
        field('延期原因', input('reason', { id: 'ext-reason' }), { required: true })));
    const g = gated('extension', '延期', () => validate(ef) ? { reason: ef.reason.value.trim(), days: Number(ef.days.value) } : null, 'extend');
    ef.addEventListener('input', g.reset);
    ef.append(h('div.actions', g.printBtn, g.doBtn));
    box.append(ef);
  }

  if (may('resume')) {
    any = true;
    const rf = h('form#resume-form', { novalidate: true },
      field('特别程序结果', textarea('result', { id: 'sp-result' }), { required: true }),
      h('div.actions', h('button.primary#do-resume', { type: 'submit' }, '特别程序结束，恢复计时')));
    rf.addEventListener('submit', (e) => { e.preventDefault(); if (validate(rf)) post('resume', { result: rf.result.value.trim() }); });
    box.append(rf);
  }

  if (may('complete')) {
    any = true;
    const refusedOnly = c.result === 'refused';
    const cf = h('form#complete-form', { novalidate: true }, h('h3', '办结'),
      refusedOnly ? h('p.error', '办件已被退窗，只能作不予许可办结。') : null,
      h('div.grid',
        field('办理结果', select('result', refusedOnly ? [['refused', '不予许可']] : [['approved', '准予许可'], ['refused', '不予许可']], { id: 'result' })),
        field('许可证号（发证时填写）', input('licence_no', { id: 'licence-no' })),
        field('有效期至', input('valid_until', { type: 'date', id: 'valid-until' })),
        field('不予许可理由', textarea('reason', { id: 'refuse-reason' }))));
    const sync = () => {
      const ok = cf.result.value === 'approved';
      cf.licence_no.closest('.field').hidden = !ok; cf.valid_until.closest('.field').hidden = !ok;
      cf.reason.closest('.field').hidden = ok; cf.reason.required = !ok;
    };
    cf.result.addEventListener('change', sync); sync();
    const params = () => {
      if (!validate(cf)) return null;
      if (cf.result.value === 'refused') return { reason: cf.reason.value.trim() };
      const p = {};
      if (cf.licence_no.value.trim()) p.licence_no = cf.licence_no.value.trim();
      if (cf.valid_until.value) p.valid_until = cf.valid_until.value;
      if (!!p.licence_no !== !!p.valid_until) { flash('许可证号与有效期须同时填写或同时不填', 'error'); return null; }
      return p;
    };
    const mk = (kind) => gated(kind, '办结', params, 'complete', (p) => ({
      result: kind === 'approval_decision' ? 'approved' : 'refused', ...p }));
    const ga = mk('approval_decision'), gr = mk('refusal_decision');
    gr.doBtn.id = 'do-complete-refused';
    const showG = () => { const ok = cf.result.value === 'approved'; ga.printBtn.hidden = ga.doBtn.hidden = !ok; gr.printBtn.hidden = gr.doBtn.hidden = ok; };
    cf.result.addEventListener('change', showG);
    cf.addEventListener('input', () => { ga.reset(); gr.reset(); });
    cf.append(h('p.muted', '打印决定书后，“办结”按钮才可使用。'), h('div.actions', ga.printBtn, ga.doBtn, gr.printBtn, gr.doBtn));
    showG();
    box.append(cf);
  }

  if (may('forward')) {
    any = true;
    const ff = h('form#forward-form', { novalidate: true }, h('h3', '转报上级'),
      h('p.muted', '本事项由上级决定：转报后本办件在此办结（转报），由上级受理办理，结果回传本级。'),
      field('转报意见', textarea('opinion', { id: 'forward-opinion' }), { required: true }),
      h('div.actions', h('button#do-forward', { type: 'submit' }, '转报')));
    ff.addEventListener('submit', (e) => {
      e.preventDefault();
      if (validate(ff) && confirm('确定转报上级？')) post('forward', { opinion: ff.opinion.value.trim() }, '已转报');
    });
    box.append(ff);
  }

  if (may('void') || may('delete')) {
    any = true;
    const af = h('form#abnormal-form', { novalidate: true }, h('h3', '异常办结'),
      field('处理原因', textarea('reason', { id: 'abn-reason' }), { required: true }),
      h('div.actions',
        may('void') ? h('button.danger#do-void', { type: 'button' }, '作废办结') : null,
        may('delete') ? h('button.danger#do-delete', { type: 'button' }, '删除办结') : null,
        h('a', { href: '#/abnormal' }, '返回')));
    af.querySelector('#do-void')?.addEventListener('click', () => { if (validate(af) && confirm('确定作废办结？')) post('void', { reason: af.reason.value.trim() }).then((ok) => { if (ok) { keepFlash = true; location.hash = '#/abnormal'; } }); });
    af.querySelector('#do-delete')?.addEventListener('click', () => { if (validate(af) && confirm('确定删除办结？删除后办件不再出现在列表中。')) post('delete', { reason: af.reason.value.trim() }).then((ok) => { if (ok) { keepFlash = true; location.hash = '#/abnormal'; } }); });
    box.append(af);
  }

  if (has('supervisor')) {
    any = true;
    box.append(h('div.actions', h('button#issue-card', { type: 'button', onclick: () => issueCard(c.case_no) }, '发黄牌/红牌')));
  }
  if (!any) box.append(h('p.muted', '您当前不能对此办件进行操作。'));
  return box;
}

// ---------------------------------------------------------------- 异常办结

function abnormalPage() {
  document.title = '异常办结 · 政务服务平台';
  const list = h('div');
  const form = h('form.panel', { novalidate: true },
    h('div.grid',
      field('异常类型', select('kind', [['', '全部'], ['correction_overdue', '补正补齐逾期'], ['draft_stale', '逾期未受理']])),
      field('事项编码', input('item')),
      field('收件日期自', input('from', { type: 'date' })), field('至', input('to', { type: 'date' }))),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  const run = () => pager((c) => api('GET', '/api/v1/abnormal' + q({
    kind: form.kind.value, item: form.item.value.trim(), from: form.from.value, to: form.to.value, limit: 20, cursor: c,
  })), (rows) => table([
    ['办件编号', (r) => caseLink(r.case_no, '#/abnormal/')],
    ['项目名称', (r) => r.project_name],
    ['事项', (r) => itemName(r.item)],
    ['异常类型', (r) => r.kind === 'correction_overdue' ? '补正补齐逾期' : '逾期未受理'],
    ['收件时间', (r) => fmtTime(r.received_at)],
    ['补正期限', (r) => r.correction ? fmtDate(r.correction.deadline) : ''],
  ], rows, { empty: '没有异常办件' }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '异常办结'), h('p.muted', '补正补齐未按期交回、逾期未办理的办件。打开办件可查看意见列表并作废办结或删除办结。'), form, list);
  run();
}

// ---------------------------------------------------------------- 咨询处理

function consultList() {
  document.title = '咨询处理 · 政务服务平台';
  const list = h('div');
  const form = h('form.panel', { novalidate: true },
    h('div.grid', field('咨询标题', input('title')),
      field('状态', select('status', [['', '全部'], ['pending', '待回复'], ['replied', '已回复']])),
      field('咨询日期自', input('from', { type: 'date' })), field('至', input('to', { type: 'date' }))),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  const run = () => pager((c) => api('GET', '/api/v1/consultations' + q({
    title: form.title.value.trim(), status: form.status.value, from: form.from.value, to: form.to.value, limit: 20, cursor: c,
  })), (rows) => table([
    ['标题', (r) => h('a', { href: '#/consult/' + r.id }, r.title)],
    ['事项', (r) => itemName(r.item)],
    ['咨询人', (r) => r.asker ? r.asker.name : ''],
    ['咨询时间', (r) => fmtTime(r.created_at)],
    ['答复期限', (r) => fmtDate(r.reply_due)],
    ['状态', (r) => r.status === 'replied' ? '已回复' : r.overdue_days > 0 ? h('span.mark.red', `逾期 ${r.overdue_days} 日`) : '待回复'],
  ], rows, { empty: '没有咨询' }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '咨询处理'), form, list);
  run();
}

async function consultPage(id) {
  const c = await api('GET', `/api/v1/consultations/${id}`);
  document.title = `咨询 · ${c.title}`;
  const parts = [h('h2', '咨询处理'), h('section', h('h3', c.title), dl([
    ['内容', c.content], ['事项', itemName(c.item)], ['部门', c.department && c.department.name],
    ['咨询人', c.asker ? `${c.asker.name || ''} ${c.asker.phone || ''}` : ''],
    ['咨询时间', fmtTime(c.created_at)], ['答复期限', fmtDate(c.reply_due)],
    ['状态', c.status === 'replied' ? '已回复' : '待回复'],
  ]))];
  if (c.status === 'replied') {
    parts.push(h('section#reply', h('h3', '回复'), dl([['回复内容', c.reply],
      ['回复人', c.replier && c.replier.name], ['回复类型', c.visibility === 'public' ? '公开' : '私密'],
      ['回复时间', fmtTime(c.replied_at)]])));
  } else {
    const { items: staff } = await api('GET', '/api/v1/me/colleagues');
    const f = h('form#reply-form.panel', { novalidate: true }, h('h3', '回复'),
      field('回复内容', textarea('content', { rows: 5, id: 'reply-content', maxlength: 5000 }), { required: true }),
      h('div.grid',
        field('回复人', select('replier', staff.map((u) => [String(u.id), u.name]),
          { id: 'replier', value: String(me.id) }), { required: true, hint: '本部门在岗人员，默认为本人' }),
        field('回复类型', select('visibility', [['public', '公开'], ['private', '私密']], { id: 'visibility' }))),
      h('div.actions', h('button.primary', { type: 'submit' }, '回复'), h('a', { href: '#/consult' }, '返回')));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!validate(f)) return;
      try {
        await api('POST', `/api/v1/consultations/${id}/reply`, { content: f.content.value.trim(),
          replier: Number(f.replier.value), visibility: f.visibility.value });
        flash('已回复');
        consultPage(id);
      } catch (err) { showServerError(f, err); }
    });
    parts.push(f);
  }
  mount(app, ...parts);
}

// ---------------------------------------------------------------- 电子监察

async function issueCard(caseNo) {
  const f = await dialogForm(`对办件 ${caseNo} 发牌`, [
    field('牌色', select('color', [['yellow', '黄牌'], ['red', '红牌']], { id: 'card-color' })),
    field('原因', textarea('reason', { id: 'card-reason' }), { required: true })], '发牌');
  if (!f) return;
  try {
    await api('POST', `/api/v1/supervision/cases/${caseNo}/cards`, { color: f.color.value, reason: f.reason.value.trim() });
    flash('已发牌');
  } catch (err) { fail(err); }
}

function warningsPage() {
  document.title = '预警监察 · 政务服务平台';
  const list = h('div');
  const form = h('form.panel', { novalidate: true },
    h('div.grid', field('预警级别', select('level', [['', '全部（含环节超时）'], ['yellow', '黄色预警'], ['red', '红色预警']])),
      field('地区编码', input('region')), field('部门编号', input('department', { type: 'number' }))),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  const cardText = (cs) => (cs || []).map((k) => h('span.mark.' + k.color,
    `${k.color === 'red' ? '红牌' : '黄牌'}${k.revoked_at ? '(已撤销)' : k.responded_at ? '(已答复)' : ''}`));
  const run = () => pager((c) => api('GET', '/api/v1/supervision/warnings' + q({
    level: form.level.value, region: form.region.value.trim(), department: form.department.value, limit: 20, cursor: c,
  })), (rows) => table([
    ['办件编号', (r) => caseLink(r.case_no)], ['项目名称', (r) => r.project_name], ['事项', (r) => itemName(r.item)],
    ['部门', (r) => r.department && r.department.name], ['环节', (r) => STEP[r.step] || r.step],
    ['到期日', (r) => fmtDate(r.due_date)],
    ['预警', (r) => [levelMark(r.level), r.step_overdue ? h('span.mark.red', '环节超时') : null, r.paused ? '（暂停）' : null]],
    ['牌', (r) => cardText(r.cards)],
    ['', (r) => h('button', { type: 'button', onclick: () => issueCard(r.case_no).then(run) }, '发牌')],
  ], rows, { rowClass: (r) => r.level, empty: '没有预警办件' }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '预警监察'), form, list);
  run();
}

function cardsPage() {
  document.title = '黄红牌 · 政务服务平台';
  const list = h('div');
  const form = h('form.panel', { novalidate: true },
    h('div.grid', field('办件编号', input('case_no')),
      field('牌色', select('color', [['', '全部'], ['yellow', '黄牌'], ['red', '红牌']])),
      field('来源', select('source', [['', '全部'], ['auto', '自动'], ['manual', '人工']])),
      field('状态', select('status', [['', '全部'], ['open', '待答复'], ['answered', '已答复'], ['revoked', '已撤销']]))),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  const revoke = async (k) => {
    const f = await dialogForm('撤销牌', [field('撤销原因', textarea('reason', { id: 'revoke-reason' }), { required: true })], '撤销');
    if (!f) return;
    try { await api('POST', `/api/v1/supervision/cards/${k.id}/revoke`, { reason: f.reason.value.trim() }); flash('已撤销'); run(); } catch (err) { fail(err); }
  };
  const respond = async (k) => {
    const f = await dialogForm('答复', [field('答复内容', textarea('content', { id: 'card-response' }), { required: true })], '提交答复');
    if (!f) return;
    try { await api('POST', `/api/v1/cards/${k.id}/response`, { content: f.content.value.trim() }); flash('已答复'); run(); } catch (err) { fail(err); }
  };
  const run = () => pager((c) => api('GET', '/api/v1/cards' + q({
    case_no: form.case_no.value.trim(), color: form.color.value, source: form.source.value, status: form.status.value, limit: 20, cursor: c,
  })), (rows) => table([
    ['牌', (k) => h('span.mark.' + k.color, k.color === 'red' ? '红牌' : '黄牌')],
    ['办件', (k) => caseLink(k.case_no)], ['项目', (k) => k.project_name], ['部门', (k) => k.department && k.department.name],
    ['来源', (k) => k.source === 'auto' ? '自动' : '人工'], ['原因', (k) => k.reason],
    ['发出', (k) => fmtTime(k.issued_at)],
    ['状态', (k) => k.status === 'open' ? '待答复' : k.status === 'answered' ? `已答复：${k.response}` : `已撤销：${k.revoke_reason || ''}`],
    ['', (k) => k.status !== 'open' ? '' : has('supervisor')
      ? h('button', { type: 'button', onclick: () => revoke(k) }, '撤销')
      : h('button', { type: 'button', onclick: () => respond(k) }, '答复')],
  ], rows, { empty: '没有黄红牌' }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '黄红牌'), form, list);
  run();
}

// 整改: a bad rating (不满意) opens a task the department answers
function rectifyPage() {
  document.title = '整改 · 政务服务平台';
  const list = h('div');
  const form = h('form.panel', { novalidate: true },
    h('div.grid', field('状态', select('status', [['', '全部'], ['open', '待整改'], ['answered', '已答复']]))),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  const answer = async (k) => {
    const f = await dialogForm(`整改答复：${k.case_no}`, [field('整改情况', textarea('content', { id: 'rectify-content', maxlength: 2000 }), { required: true })], '提交答复');
    if (!f) return;
    try { await api('POST', `/api/v1/rectifications/${k.id}/response`, { content: f.content.value.trim() }); flash('已答复'); run(); } catch (err) { fail(err); }
  };
  const SCORE = { 1: '非常满意', 2: '满意', 3: '一般', 4: '不满意', 5: '非常不满意' };
  const run = () => pager((c) => api('GET', '/api/v1/rectifications' + q({ status: form.status.value, limit: 20, cursor: c })),
    (rows) => table([
      ['办件', (k) => caseLink(k.case_no)], ['事项', (k) => itemName(k.item)],
      ['部门', (k) => k.department && (k.department.name || k.department)],
      ['评价', (k) => `${SCORE[k.score] || k.score}${k.comment ? '：' + k.comment : ''}`],
      ['期限', (k) => [fmtDate(k.due_date), k.overdue_days > 0 ? h('span.mark.red', ` 逾期 ${k.overdue_days} 日`) : null]],
      ['状态', (k) => k.status === 'answered' ? `已答复：${k.response}` : '待整改'],
      ['', (k) => k.status === 'open' && !has('supervisor') ? h('button', { type: 'button', onclick: () => answer(k) }, '答复') : ''],
    ], rows, { empty: '没有整改任务' }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '整改'), h('p.muted', '群众评价“不满意”“非常不满意”的办件，需在期限内答复整改情况。'), form, list);
  run();
}

function statsPage() {
  document.title = '统计分析 · 政务服务平台';
  const out = h('div#stats');
  const form = h('form.panel', { novalidate: true },
    h('div.grid', field('日期自', input('from', { type: 'date' })), field('至', input('to', { type: 'date' })),
      field('地区编码', input('region')), field('事项编码', input('item'))),
    h('div.actions', h('button.primary', { type: 'submit' }, '统计')));
  const run = async () => {
    try {
      const rows = [];
      let cursor = null;
      do {  // every department of the scope (pages of departments)
        const r = await api('GET', '/api/v1/supervision/stats' + q({ from: form.from.value, to: form.to.value,
          region: form.region.value.trim(), item: form.item.value.trim(), limit: 500, cursor }));
        rows.push(...r.items);
        cursor = r.next_cursor;
      } while (cursor && rows.length < 2000);
      const name = (r) => r.department.name;
      const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
      mount(out,
        table([
          ['部门', name], ['受理', (r) => r.accepted], ['不予受理', (r) => r.rejected],
          ['办结', (r) => sum(r.completed)], ['按时办结率', (r) => r.on_time_rate == null ? '—' : (r.on_time_rate * 100).toFixed(1) + '%'],
          ['平均用时（工作日）', (r) => r.avg_working_days ?? '—'],
          ['发牌/撤牌', (r) => `${r.cards_issued}/${r.cards_revoked}`],
          ['咨询待复/逾期', (r) => `${r.consultations_pending}/${r.consultations_overdue}`],
          ['评价 满意/一般/不满意', (r) => `${r.ratings.good}/${r.ratings.neutral}/${r.ratings.bad}`],
        ], rows, { empty: '没有数据' }),
        rows.length ? [
          barChart('受理件数', rows.map((r) => [name(r), r.accepted])),
          barChart('办结件数', rows.map((r) => [name(r), sum(r.completed)])),
          barChart('按时办结率', rows.map((r) => [name(r), r.on_time_rate == null ? 0 : r.on_time_rate]), { fmt: (v) => (v * 100).toFixed(1) + '%', cls: 'good' }),
          barChart('不满意评价', rows.map((r) => [name(r), r.ratings.bad]), { cls: 'bad' }),
        ] : null);
    } catch (err) { mount(out, h('p.error', errorText(err))); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '统计分析'), form, out);
  run();
}

start();
