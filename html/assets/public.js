// The public portal: 办事指南, 办件查询 and 评价, 网上咨询.  No sign-in;
// the public API only (/api/v1/items, /api/v1/public/...).
import {
  $, h, mount, api, q, errorText, field, input, textarea, validate,
  showServerError, fmtTime, fmtDate, yuan, STATE, table, pager,
} from '/assets/lib.js';

const app = $('#app');
const itemName = (it) => (it && typeof it === 'object' ? it.name : it) || '';
const dl = (pairs) => h('dl.kv', pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', k), h('dd', v)]));
const TYPE = { 1: '即办件', 2: '承诺件', 9: '其他' };

// ---------------------------------------------------------------- 办事指南

function guide() {
  document.title = '办事指南 · 网上政务服务';
  const list = h('div#items');
  const form = h('form.panel', { novalidate: true, role: 'search' },
    h('div.actions', field('事项名称或编码', input('q', { id: 'guide-q' })), h('button.primary', { type: 'submit' }, '搜索')));
  const run = () => pager((c) => api('GET', '/api/v1/items' + q({ q: form.q.value.trim(), limit: 20, cursor: c })),
    (rows) => table([
      ['事项名称', (i) => h('a', { href: '#/item/' + encodeURIComponent(i.code) }, i.name)],
      ['事项编码', (i) => i.code], ['实施部门', (i) => i.department_name || ''],
      ['承诺时限', (i) => `${i.promised_days} 个工作日`],
    ], rows, { empty: '没有找到事项' }), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '办事指南'), form, list);
  run();
}

async function itemPage(code) {
  const i = await api('GET', '/api/v1/items/' + encodeURIComponent(code));
  document.title = `${i.name} · 办事指南`;
  const answers = h('div');
  mount(app, h('h2', i.name),
    h('section', h('h3', '基本信息'), dl([['事项编码', i.code], ['实施部门', i.department_name],
      ['办件类型', TYPE[i.case_type] || ''], ['法定时限', `${i.legal_days} 个工作日`],
      ['承诺时限', `${i.promised_days} 个工作日`]])),
    h('section', h('h3', '办理流程'), h('ol', h('li', '窗口受理'), (i.steps || []).map((s) => h('li', `${s.name}（${s.days} 个工作日）`)), h('li', '办结'))),
    h('section#conditions', h('h3', '申请材料'), table([
      ['材料名称', (m) => m.name], ['是否必交', (m) => m.required ? '必交' : '非必交'],
    ], i.materials || [])),
    (i.fields || []).length ? h('section', h('h3', '需填写的申请信息'), h('ul', i.fields.map((f) => h('li', f.label + (f.required ? '（必填）' : ''))))) : null,
    h('section', h('h3', '收费'), (i.fees || []).length ? table([
      ['收费项目', (f) => f.name], ['金额', (f) => f.amount ? yuan(f.amount) : '不收费'], ['依据', (f) => f.basis || ''],
    ], i.fees) : h('p', '不收费')),
    h('section', h('h3', '常见问题'), answers,
      h('p', h('a', { href: '#/ask?item=' + encodeURIComponent(i.code) }, '对此事项提问'))));
  try {
    const r = await api('GET', '/api/v1/public/consultations' + q({ item_code: i.code, limit: 10 }));
    mount(answers, r.items.length ? r.items.map(qa) : h('p.muted', '暂无公开解答'));
  } catch (err) { mount(answers, h('p.error', errorText(err))); }
}
const qa = (c) => h('article.panel', h('h4', c.title), h('p', c.content),
  c.reply ? h('p', h('strong', '答复：'), c.reply) : h('p.muted', '尚未答复'),
  h('small.muted', `${fmtTime(c.created_at)}${c.replied_at ? ' · 答复于 ' + fmtTime(c.replied_at) : ''}`));

// ---------------------------------------------------------------- 办件查询

function queryPage() {
  document.title = '办件查询 · 网上政务服务';
  const out = h('div#result');
  const form = h('form.panel#query-form', { novalidate: true },
    h('div.grid', field('办件编号', input('case_no', { id: 'q-case', inputmode: 'numeric', autocomplete: 'off' }), { required: true }),
      field('查询密码', input('password', { id: 'q-password', autocomplete: 'off' }), { required: true, hint: '印在受理通知书上' })),
    h('div.actions', h('button.primary', { type: 'submit' }, '查询')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!validate(form)) return;
    const no = form.case_no.value.trim(), pw = form.password.value.trim().toUpperCase();
    try {
      const c = await api('GET', `/api/v1/public/cases/${encodeURIComponent(no)}` + q({ password: pw }));
      mount(out, h('section#case', h('h3', `办件 ${c.case_no}`), dl([
        ['事项', itemName(c.item)], ['办理部门', typeof c.department === 'object' ? c.department && c.department.name : c.department],
        ['状态', h('strong#public-state', STATE[c.state] || c.state)],
        ['承诺办结日期', fmtDate(c.promised_date)], ['到期日', fmtDate(c.due_date)],
        ['办理结果', c.result === 'approved' ? '准予许可' : c.result === 'refused' ? '不予许可' : c.result],
        ['办结时间', fmtTime(c.completed_at)]]),
        h('h3', '办理过程'), h('ol#steps', (c.steps || []).map((s) => h('li', `${s.name}  ${fmtTime(s.at)}`))),
        c.state === 'completed' ? rateForm(c.case_no, pw) : null));
    } catch (err) {
      mount(out, h('p.error', err.status === 404 ? '办件编号或查询密码不正确' : errorText(err)));
    }
  });
  mount(app, h('h2', '办件查询'), form, out);
}

function rateForm(no, pw) {
  const scores = [[1, '非常满意'], [2, '满意'], [3, '一般'], [4, '不满意'], [5, '非常不满意']];
  const f = h('form.panel#rate-form', { novalidate: true }, h('h3', '评价'),
    h('fieldset', h('legend', '满意度'), scores.map(([v, t]) => h('label.radio', { for: 'score-' + v },
      h('input', { type: 'radio', name: 'score', value: String(v), id: 'score-' + v, checked: v === 1 }), ` ${t} `))),
    field('评价意见（可不填）', textarea('comment', { id: 'rate-comment', maxlength: 2000 })),
    h('div.actions', h('button.primary', { type: 'submit' }, '提交评价')));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', `/api/v1/public/cases/${encodeURIComponent(no)}/evaluation`, {
        password: pw, score: Number(f.querySelector('input[name=score]:checked').value), channel: 'web',
        comment: f.comment.value.trim() });
      mount(f, h('p#rated', '感谢您的评价！'));
    } catch (err) {
      if (err.code === 'duplicate') mount(f, h('p#rated', '此办件已评价过，感谢您的参与。'));
      else showServerError(f, err);
    }
  });
  return f;
}

// ---------------------------------------------------------------- 网上咨询

function askPage(params) {
  document.title = '我要咨询 · 网上政务服务';
  const f = h('form.panel#ask-form', { novalidate: true },
    field('标题', input('title', { id: 'ask-title', maxlength: 200 }), { required: true }),
    field('咨询内容', textarea('content', { id: 'ask-content', rows: 6, maxlength: 5000 }), { required: true }),
    h('div.grid', field('相关事项编码（可不填）', input('item_code', { id: 'ask-item', value: params.get('item') || '' })),
      field('您的姓名', input('asker.name', { id: 'ask-name' })),
      field('联系电话', input('asker.phone', { id: 'ask-phone', type: 'tel', 'data-check': 'phone' }))),
    h('div.actions', h('button.primary', { type: 'submit' }, '提交咨询')));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!validate(f)) return;
    const b = { title: f.title.value.trim(), content: f.content.value.trim() };
    if (f.item_code.value.trim()) b.item_code = f.item_code.value.trim();
    const asker = {};
    const nm = f.elements['asker.name'].value.trim(), ph = f.elements['asker.phone'].value.trim();
    if (nm) asker.name = nm;
    if (ph) asker.phone = ph;
    if (Object.keys(asker).length) b.asker = asker;
    try {
      const r = await api('POST', '/api/v1/public/consultations', b);
      mount(app, h('h2', '咨询已提交'), h('section#asked', dl([
        ['咨询编号', h('strong#ask-id', String(r.id))], ['查询码', h('strong#ask-code', r.code)],
        ['答复期限', fmtDate(r.reply_due)]]),
        h('p', '请记下咨询编号和查询码：查询码只显示这一次，凭它查看答复（包括不公开的答复）。'),
        h('p', h('a', { href: `#/mine?id=${r.id}` }, '查看我的咨询'))));
    } catch (err) { showServerError(f, err); }
  });
  mount(app, h('h2', '我要咨询'), f);
}

function answersPage() {
  document.title = '咨询解答 · 网上政务服务';
  const list = h('div#answers');
  const form = h('form.panel', { novalidate: true },
    h('div.actions', field('事项编码（可不填）', input('item_code', { id: 'ans-item' })), h('button.primary', { type: 'submit' }, '查看')));
  const run = () => pager((c) => api('GET', '/api/v1/public/consultations' + q({ item_code: form.item_code.value.trim(), limit: 10, cursor: c })),
    (rows) => rows.length ? h('div', rows.map(qa)) : h('p.muted', '暂无公开解答'), list);
  form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
  mount(app, h('h2', '咨询解答'), form, list);
  run();
}

function minePage(params) {
  document.title = '我的咨询 · 网上政务服务';
  const out = h('div');
  const f = h('form.panel#mine-form', { novalidate: true },
    h('div.grid', field('咨询编号', input('id', { id: 'mine-id', value: params.get('id') || '', inputmode: 'numeric' }), { required: true }),
      field('查询码', input('code', { id: 'mine-code', autocomplete: 'off' }), { required: true })),
    h('div.actions', h('button.primary', { type: 'submit' }, '查看')));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!validate(f)) return;
    try {
      const c = await api('GET', `/api/v1/public/consultations/${encodeURIComponent(f.id.value.trim())}` + q({ code: f.code.value.trim() }));
      mount(out, h('section#mine', qa(c), dl([['状态', c.status === 'replied' ? '已答复' : '待答复'],
        ['答复方式', c.visibility === 'private' ? '不公开' : c.visibility === 'public' ? '公开' : ''],
        ['答复期限', fmtDate(c.reply_due)]])));
    } catch (err) { mount(out, h('p.error', err.status === 404 ? '咨询编号或查询码不正确' : errorText(err))); }
  });
  mount(app, h('h2', '查看我的咨询'), f, out);
}

// ---------------------------------------------------------------- 通知书核验

function verifyPage(params) {
  document.title = '通知书核验 · 网上政务服务';
  const out = h('div');
  const f = h('form.panel#verify-form', { novalidate: true },
    h('div.grid', field('通知书编号', input('notice_no', { id: 'v-no', value: params.get('no') || '', placeholder: '430102-SL-2026-000001' }), { required: true }),
      field('核验码', input('sha256', { id: 'v-sha', value: params.get('sha256') || '', size: 64 }), { required: true, hint: '印在通知书底部的 64 位核验码' })),
    h('div.actions', h('button.primary', { type: 'submit' }, '验证')));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!validate(f)) return;
    try {
      const r = await api('GET', `/api/v1/public/notices/${encodeURIComponent(f.notice_no.value.trim())}/verify` + q({ sha256: f.sha256.value.trim().toLowerCase() }));
      mount(out, h('section#verified', r.valid
        ? h('p', h('strong', '✔ 通知书真实有效'))
        : h('p.error', h('strong', '✘ 核验码与通知书不符')),
      dl([['签发机关', r.issuer], ['签发时间', fmtTime(r.issued_at)], ['电子签名', r.signed ? '有' : '无']])));
    } catch (err) { mount(out, h('p.error', err.status === 404 ? '没有这个编号的通知书' : errorText(err))); }
  });
  mount(app, h('h2', '通知书核验'), f, out);
}

// ---------------------------------------------------------------- router

async function route() {
  const [path, qs] = (location.hash || '#/guide').split('?');
  const params = new URLSearchParams(qs || '');
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === path) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  $('#flash').replaceChildren();
  try {
    let m;
    if ((m = /^#\/item\/(.+)$/.exec(path))) await itemPage(decodeURIComponent(m[1]));
    else if (path === '#/query') queryPage();
    else if (path === '#/ask') askPage(params);
    else if (path === '#/answers') answersPage();
    else if (path === '#/mine') minePage(params);
    else if (path === '#/verify') verifyPage(params);
    else guide();
  } catch (err) { mount(app, h('p.error', errorText(err))); }
  app.focus();
}
window.addEventListener('hashchange', route);
route();
