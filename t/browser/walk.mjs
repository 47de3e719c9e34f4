// The browser walk of issue 8, run by t/95-browser.t against a test stack:
// Debian's chromium or Debian's Firefox ESR driven by playwright-core, as
// the staff and the public would use the pages.  Prints TAP lines ("ok N -
// ..." / "not ok N - ..."); a failed step saves a screenshot (GOVSVC_SHOTS)
// and prints its path, and the steps that depend on it are skipped.
//
// Environment: GOVSVC_BASE (https://127.0.0.1:PORT), GOVSVC_PASSWORD (of the
// users clerk, handler, reviewer, approver, supervisor), GOVSVC_SHOTS (a
// folder), GOVSVC_BROWSER (chromium, the default, or firefox),
// GOVSVC_CHROMIUM (default /usr/bin/chromium), GOVSVC_FIREFOX (default
// /usr/bin/firefox-esr).
//
// Chromium is driven over CDP.  Debian's Firefox is a stock Firefox, not
// Playwright's patched one: playwright-core drives it over WebDriver BiDi
// (channel 'moz-firefox').  Everything the walk uses works there too:
// popups, setInputFiles, confirm() dialogs, screenshots, the zh-CN locale,
// ignoreHTTPSErrors and clientCertificates (see the launch below).
import { chromium, firefox } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const BASE = process.env.GOVSVC_BASE;
const PW = process.env.GOVSVC_PASSWORD;
const SHOTS = process.env.GOVSVC_SHOTS || '/tmp';
mkdirSync(SHOTS, { recursive: true });

let n = 0, failed = 0, stopped = false;
process.on('unhandledRejection', (e) => { console.log('# unhandled: ' + (e && e.stack || e)); });
const BROWSER = process.env.GOVSVC_BROWSER || 'chromium';
if (!['chromium', 'firefox'].includes(BROWSER)) throw new Error('GOVSVC_BROWSER: chromium or firefox, not ' + BROWSER);
const errors = [];
const pages = new Set();
function track(page, who) {
  pages.add(page);
  page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));
  // an API answering 401/404/422 is logged as a failed load: expected here;
  // a CSP violation or a script error is not
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|404|422)/.test(m.text())) {
      errors.push(`${who}: console: ${m.text()}`);
    }
  });
  page.on('popup', (p) => track(p, who + ' popup'));
}
function check(cond, msg) { if (!cond) throw new Error(msg); }

async function step(name, fn, page) {
  n++;
  if (stopped) { console.log(`ok ${n} - ${name} # SKIP an earlier step failed`); return; }
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed++;
    stopped = true;
    console.log(`not ok ${n} - ${name}`);
    for (const l of String(e.stack || e).split('\n').slice(0, 6)) console.log('# ' + l);
    const target = page || [...pages].reverse().find((p) => !p.isClosed());
    if (target) {
      const file = `${SHOTS}/step-${n}.png`;
      try { await target.screenshot({ path: file, fullPage: true }); console.log(`# screenshot: ${file}`); } catch (se) { console.log('# no screenshot: ' + se.message); }
    }
  }
}

// Firefox: clientCertificates (证书登录) work through playwright-core's own
// SOCKS proxy for that context, and Firefox sends nothing for 127.0.0.1
// through a proxy unless allow_hijacking_localhost is set.
const browser = BROWSER === 'firefox'
  ? await firefox.launch({ channel: 'moz-firefox', headless: true,
      executablePath: process.env.GOVSVC_FIREFOX || '/usr/bin/firefox-esr',
      firefoxUserPrefs: { 'network.proxy.allow_hijacking_localhost': true } })
  : await chromium.launch({
      executablePath: process.env.GOVSVC_CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'] });
console.log(`# version ${browser.version()}`);
const newUser = async (who) => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'zh-CN', viewport: { width: 1280, height: 900 } });
  ctx.setDefaultTimeout(10000);
  const page = await ctx.newPage();
  track(page, who);
  return page;
};
async function login(who) {
  const page = await newUser(who);
  await page.goto(BASE + '/staff/');
  await page.getByLabel('用户名').fill(who);
  await page.getByLabel('密码').fill(PW);
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.locator('#logout').waitFor();
  return page;
}
// print a notice: the popup opens the printable A4 page
async function printNotice(page, selector, expect) {
  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click(selector)]);
  await popup.waitForURL(/\/api\/v1\/notices\/\d{6}-[A-Z]+-\d{4}-\d+$/);
  await popup.waitForLoadState();
  const text = await popup.locator('body').innerText();
  check(text.includes(expect), `notice page shows "${expect}": ${text.slice(0, 200)}`);
  const no = popup.url().match(/([^/]+)$/)[1];
  const sha = (text.match(/核验码：([0-9a-f]{64})/) || [])[1];
  await popup.close();
  return { no, sha };
}
const flashText = (page) => page.locator('#flash').innerText();

// ------------------------------------------------------------------------
const ID_NO = '11010519491231002X';
const USCC = '91430102MA4L0ABC0K'.slice(0, 17);
function usccCheck(s) {
  const cs = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += cs.indexOf(s[i]) * w[i];
  return s + cs[(31 - (sum % 31)) % 31];
}
const ORG = usccCheck(USCC);

let caseNo, queryPassword, clerk, decision, corrPassword;

// register a draft of 食品经营许可 through 办件受理
async function register(page, project) {
  await page.getByRole('navigation').getByRole('link', { name: '办件受理' }).click();
  await page.getByLabel('事项名称或编码').fill('食品经营');
  await page.getByRole('button', { name: '查询事项' }).click();
  await page.getByRole('row', { name: /食品经营许可/ }).getByRole('button', { name: '选择' }).click();
  await page.getByLabel('项目名称').fill(project);
  await page.getByLabel('姓名').fill('张三');
  await page.getByLabel('身份证号码').fill(ID_NO);
  await page.locator('input[name="applicant.phone"]').fill('13800000000');
  await page.locator('input[name="form.address"]').fill('长沙市芙蓉区五一大道1号');
  await page.getByLabel('统一社会信用代码').fill(ORG);
  await page.locator('input[name="form.contact"]').fill('0731-84112233');
  for (const m of ['M1', 'M2', 'M3']) await page.check('#mat-' + m);
  await page.click('#save');
  await page.waitForURL(/#\/accept\/\d{20}$/);
  return page.url().match(/(\d{20})$/)[1];
}

await step('the home page answers with its security headers', async () => {
  const page = await newUser('public');
  const r = await page.goto(BASE + '/');
  const hd = r.headers();
  check(r.status() === 200, 'status ' + r.status());
  check(/default-src 'self'/.test(hd['content-security-policy'] || ''), 'CSP');
  check(hd['x-frame-options'] === 'DENY', 'X-Frame-Options');
  check(hd['x-content-type-options'] === 'nosniff', 'nosniff');
  check(hd['referrer-policy'] === 'no-referrer', 'Referrer-Policy');
  check(hd['cache-control'] === 'no-store', 'HTML no-store');
  const lang = await page.evaluate(() => [navigator.language, Intl.DateTimeFormat().resolvedOptions().locale]);
  check(lang[0] === 'zh-CN' && /^zh/.test(lang[1]), 'the zh-CN locale: ' + lang.join(' '));
  await page.getByRole('link', { name: /工作人员登录/ }).click();
  await page.getByLabel('用户名').waitFor();
  const css = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  const asset = css.find((u) => /\/assets\/staff\.[0-9a-f]{10}\.js$/.test(u));
  check(asset, 'fingerprinted staff.js loaded: ' + css.join(' '));
  const ar = await page.request.get(asset);
  check(/max-age=31536000/.test(ar.headers()['cache-control']), 'asset cached long');
  check(ar.headers()['content-security-policy'], 'asset CSP');
  const rd = await page.request.get(BASE + '/staff', { maxRedirects: 0 });
  check(rd.status() === 301 && /\/staff\/$/.test(rd.headers().location), '/staff redirects to /staff/');
  await page.context().close();
});

await step('a wrong password is refused on the login page', async () => {
  const page = await newUser('nobody');
  await page.goto(BASE + '/staff/');
  await page.getByRole('button', { name: '登录', exact: true }).click();
  check(/必填/.test(await page.locator('#login').innerText()), 'required fields marked');
  await page.getByLabel('用户名').fill('clerk');
  await page.getByLabel('密码').fill('wrong password');
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.locator('#flash .error', { hasText: '用户名或密码错误' }).waitFor();
  await page.context().close();
});

await step('the clerk signs in and sees the 工作列表', async () => {
  clerk = await login('clerk');
  await clerk.locator('text=没有待办办件').waitFor();
  check(/张窗口/.test(await clerk.locator('#who').innerText()), 'name shown');
});

await step('办件受理: the form is checked before it is sent', async () => {
  await clerk.goto(BASE + '/staff/#/accept');
  await clerk.getByLabel('事项名称或编码').fill('食品经营');
  await clerk.getByRole('button', { name: '查询事项' }).click();
  await clerk.getByRole('row', { name: /食品经营许可/ }).getByRole('button', { name: '选择' }).click();
  // the item's own fields, required ones marked *
  const addrId = await clerk.locator('input[name="form.address"]').getAttribute('id');
  const lab = await clerk.locator(`label[for="${addrId}"]`).innerText();
  check(lab.includes('*'), 'required field marked *: ' + lab);
  await clerk.getByLabel('项目名称').fill('芙蓉区某某餐馆食品经营许可');
  await clerk.getByLabel('身份证号码').fill('110105194912310021');
  await clerk.click('#save');
  const err = await clerk.locator('#' + await clerk.getByLabel('身份证号码').getAttribute('id') + '-err').innerText();
  check(/校验位/.test(err), 'id card error at the field: ' + err);
  check(await clerk.getByLabel('姓名').getAttribute('aria-invalid') === 'true', 'missing name marked');
  check(!/#\/accept\/\d/.test(clerk.url()), 'nothing sent');
});

await step("办件受理: the server's 422 is shown at its field", async () => {
  await clerk.getByLabel('姓名').fill('张三');
  // the check digit is right, the birth date (month 13) is not: only the server knows
  await clerk.getByLabel('身份证号码').fill('110105194913310021');
  await clerk.locator('input[name="applicant.phone"]').fill('13800000000');
  await clerk.locator('input[name="form.address"]').fill('长沙市芙蓉区五一大道1号');
  await clerk.getByLabel('统一社会信用代码').fill(ORG);
  await clerk.locator('input[name="form.contact"]').fill('0731-84112233');
  await clerk.click('#save');
  const id = clerk.getByLabel('身份证号码');
  await clerk.locator('input[name="applicant.id_no"][aria-invalid=true]').waitFor();
  const err = await clerk.locator('#' + await id.getAttribute('id') + '-err').innerText();
  check(err.length > 0, 'server message at the field');
  check(/填写有误/.test(await flashText(clerk)), 'validation_failed shown');
  check(!/#\/accept\/\d/.test(clerk.url()), 'nothing registered');
});

await step('certificate sign-in (证书登录)', async () => {
  const ca = process.env.GOVSVC_CA_DIR;
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'zh-CN',
    clientCertificates: [{ origin: BASE, certPath: `${ca}/users/clerk.crt`, keyPath: `${ca}/users/clerk.key` }] });
  const page = await ctx.newPage();
  track(page, 'clerk-cert');
  await page.goto(BASE + '/staff/');
  await page.getByRole('button', { name: '证书登录' }).click();
  await page.locator('#who', { hasText: '张窗口' }).waitFor();
  await page.click('#logout');
  await page.getByLabel('用户名').waitFor();
  await ctx.close();
});

await step('办件受理: registered, a material uploaded', async () => {
  caseNo = await register(clerk, '芙蓉区某某餐馆食品经营许可');
  check(/已保存/.test(await flashText(clerk)), 'saved');
  await clerk.setInputFiles('#file-M1', { name: '申请书.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n% test\n') });
  await clerk.locator('li[data-material=M1] a', { hasText: '申请书.pdf' }).waitFor();
});

await step('受理 lights up only after the acceptance notice is printed', async () => {
  check(await clerk.isDisabled('#do-accept'), '受理 disabled before printing');
  await printNotice(clerk, '#print-acceptance', caseNo);
  await clerk.waitForFunction(() => !document.querySelector('#do-accept').disabled);
  await clerk.click('#do-accept');
  queryPassword = (await clerk.locator('#query-password').innerText()).trim();
  check(/^[A-Z2-9]{8}$/.test(queryPassword), 'query password shown: ' + queryPassword);
});

await step('工作列表: most urgent first, red and yellow marked, paged', async () => {
  const page = await login('handler');
  const rows = page.locator('#list tbody tr');
  await rows.first().waitFor();
  check(await rows.count() === 20, 'a page of 20, got ' + await rows.count());
  const first = await rows.nth(0).innerText(), second = await rows.nth(1).innerText();
  check(first.includes(process.env.GOVSVC_RED_CASE) && first.includes('红色预警'), 'red first: ' + first);
  check(await rows.nth(0).getAttribute('class') === 'red', 'red row marked');
  check(second.includes(process.env.GOVSVC_YELLOW_CASE) && second.includes('黄色预警'), 'yellow next: ' + second);
  check(await rows.nth(1).getAttribute('class') === 'yellow', 'yellow row marked');
  check(await page.getByRole('button', { name: '上一页' }).isDisabled(), 'no previous page');
  await page.getByRole('button', { name: '下一页' }).click();
  await page.locator('.pager', { hasText: '第 2 页' }).waitFor();
  check(await rows.count() >= 1, 'a second page');
  await page.getByRole('button', { name: '上一页' }).click();
  await page.locator('.pager', { hasText: '第 1 页' }).waitFor();
  await page.getByRole('link', { name: '已办列表' }).click();
  await page.locator('text=没有已办办件').waitFor();
  await page.context().close();
});

for (const [who, stepName] of [['handler', '初审'], ['reviewer', '复审'], ['approver', '决定']]) {
  await step(`the ${who} passes the case (${stepName}) from the 待办列表`, async () => {
    const page = await login(who);
    await page.getByRole('link', { name: caseNo }).click();
    await page.locator('#case-data').waitFor();
    check((await page.locator('#opinions').innerText()).includes('受理'), 'opinions listed');
    check(await page.locator('#deadline').isVisible(), 'deadline block');
    if (who === 'approver') {   // 延期: the notice first, then the action
      const due = await page.locator('#deadline').innerText();
      await page.getByLabel('延期工作日').fill('3');
      await page.getByLabel('延期原因').fill('情况复杂，需进一步核实');
      check(await page.isDisabled('#do-extend'), '延期 disabled before printing');
      await printNotice(page, '#print-extension', caseNo);
      await page.click('#do-extend');
      await page.locator('#flash', { hasText: '已延期' }).waitFor();
      check(await page.locator('#deadline').innerText() !== due, 'due date moved');
    }
    await page.getByRole('button', { name: `完成${stepName}` }).click();
    check(await page.getByLabel('审批意见').getAttribute('aria-invalid') === 'true', 'opinion required');
    await page.getByLabel('审批意见').fill(`${stepName}：符合条件，同意。`);
    await page.getByRole('button', { name: `完成${stepName}` }).click();
    await page.locator('#flash .ok').waitFor();
    await page.locator('#opinions', { hasText: `${stepName}：符合条件` }).waitFor();
    check(!(await page.locator('#do-pass').count()), 'no more pass for this user');
    await page.context().close();
  });
}

await step('the clerk prints the decision, then 办结 lights up and completes the case', async () => {
  await clerk.goto(BASE + '/staff/#/worklist/todo');
  await clerk.getByRole('link', { name: caseNo }).click();
  await clerk.locator('#complete-form').waitFor();
  const ops = (await clerk.locator('#opinions li strong').allInnerTexts()).map((t) => t.replace(/\s+/g, ''));
  check(JSON.stringify(ops) === JSON.stringify(['受理·受理', '初审·通过', '复审·通过', '决定·延期', '决定·通过']),
    'every opinion in order: ' + ops.join(' | '));
  await clerk.getByLabel('许可证号（发证时填写）').fill('JY14301020000001');
  await clerk.getByLabel('有效期至').fill('2031-11-28');
  check(await clerk.isDisabled('#do-complete'), '办结 disabled before printing');
  decision = await printNotice(clerk, '#print-approval_decision', 'JY14301020000001');
  check(decision.sha, 'the notice prints its 核验码');
  await clerk.click('#do-complete');
  await clerk.locator('#case-state', { hasText: '已办结' }).waitFor();
});

let corrNo;
await step('a correction round: 补正补齐 with its notice, then the case is taken again', async () => {
  corrNo = await register(clerk, '芙蓉区另一餐馆食品经营许可');
  await clerk.click('#open-correction');
  await clerk.getByLabel('处理原因').fill('营业执照复印件不清晰');
  await clerk.check('#corr-M2');
  check(await clerk.isDisabled('#do-correction'), '补正补齐 disabled before printing');
  await printNotice(clerk, '#print-correction', corrNo);
  await clerk.click('#do-correction');
  await clerk.locator('#done', { hasText: '补正补齐中' }).waitFor();
  await clerk.getByRole('link', { name: '查看办件' }).click();
  await clerk.locator('#case-state', { hasText: '补正补齐中' }).waitFor();
  await clerk.click('#to-accept');
  await clerk.locator('#pick', { hasText: '营业执照复印件不清晰' }).waitFor();
  await clerk.setInputFiles('#file-M2', { name: '营业执照.png', mimeType: 'image/png',
    buffer: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex') });
  await clerk.locator('li[data-material=M2] a', { hasText: '营业执照.png' }).waitFor();
  await clerk.click('#resubmit');
  await clerk.locator('#print-acceptance').waitFor();
  await printNotice(clerk, '#print-acceptance', corrNo);
  await clerk.click('#do-accept');
  corrPassword = (await clerk.locator('#query-password').innerText()).trim();
});

await step('special procedure with its notice, then 退窗 by the handler', async () => {
  const page = await login('handler');
  page.on('dialog', (d) => d.accept());
  await page.getByRole('link', { name: corrNo }).click();
  await page.getByLabel('原因').fill('需现场勘查经营场所');
  await page.getByLabel('程序').selectOption('survey');
  check(await page.isDisabled('#do-suspend'), 'suspend disabled before printing');
  await printNotice(page, '#print-special_procedure', corrNo);
  await page.click('#do-suspend');
  await page.locator('#case-state', { hasText: '特别程序中' }).waitFor();
  await page.getByLabel('特别程序结果').fill('勘查完成');
  await page.click('#do-resume');
  await page.locator('#case-state', { hasText: '办理中' }).waitFor();
  await page.getByLabel('审批意见').fill('经营场所不符合卫生要求。');
  await page.click('#do-return');
  await page.locator('#opinions', { hasText: '经营场所不符合卫生要求' }).waitFor();
  await page.context().close();
});

await step('the clerk completes the returned case with the printed refusal', async () => {
  await clerk.getByRole('navigation').getByRole('link', { name: '工作列表' }).click();
  await clerk.getByRole('link', { name: corrNo }).click();
  await clerk.locator('#complete-form', { hasText: '只能作不予许可办结' }).waitFor();
  await clerk.getByLabel('不予许可理由').fill('经营场所不符合食品安全要求');
  check(await clerk.isDisabled('#do-complete-refused'), '办结 disabled before printing');
  await printNotice(clerk, '#print-refusal_decision', corrNo);
  await clerk.click('#do-complete-refused');
  await clerk.locator('#case-state', { hasText: '已办结' }).waitFor();
});

await step('异常办结: the stale draft is found, its opinions read, and voided', async () => {
  const stale = process.env.GOVSVC_STALE_CASE;
  check(stale, 'GOVSVC_STALE_CASE');
  await clerk.getByRole('navigation').getByRole('link', { name: '异常办结' }).click();
  await clerk.getByLabel('异常类型').selectOption('draft_stale');
  await clerk.getByRole('button', { name: '查询' }).click();
  await clerk.getByRole('link', { name: stale }).click();
  await clerk.locator('#opinions').waitFor();
  await clerk.getByRole('button', { name: '作废办结' }).click();
  check(await clerk.getByLabel('处理原因').getAttribute('aria-invalid') === 'true', 'reason required');
  await clerk.getByLabel('处理原因').fill('申请人逾期未来办理');
  let asked = '';
  clerk.once('dialog', (d) => { asked = `${d.type()}: ${d.message()}`; d.accept(); });
  await clerk.getByRole('button', { name: '作废办结' }).click();
  await clerk.locator('#flash', { hasText: '已作废办结' }).waitFor();
  check(asked === 'confirm: 确定作废办结？', 'confirm() asked first: ' + asked);
  await clerk.goto(BASE + '/staff/#/case/' + stale);
  await clerk.locator('#case-state', { hasText: '作废办结' }).waitFor();
});

await step('the public follows the case with its number and password, and rates it', async () => {
  const page = await newUser('public');
  await page.goto(BASE + '/public/#/query');
  await page.getByLabel('办件编号').fill(caseNo);
  await page.getByLabel('查询密码').fill('WRONGPWD');
  await page.getByRole('button', { name: '查询' }).click();
  await page.locator('#result .error').waitFor();
  await page.getByLabel('查询密码').fill(queryPassword);
  await page.getByRole('button', { name: '查询' }).click();
  await page.locator('#public-state', { hasText: '已办结' }).waitFor();
  const steps = await page.locator('#steps').innerText();
  check(/受理/.test(steps) && /办结/.test(steps), 'steps shown: ' + steps);
  check(!(await page.locator('#case').innerText()).includes('张三'), 'no personal data');
  await page.getByLabel('满意', { exact: true }).check();
  await page.getByRole('button', { name: '提交评价' }).click();
  await page.locator('#rated').waitFor();
  await page.context().close();
});

await step('不予受理: its dialog, the notice first, then the case ends', async () => {
  const no = await register(clerk, '芙蓉区第三家餐馆食品经营许可');
  await clerk.click('#open-reject');
  await clerk.getByRole('button', { name: '打印不予受理通知书' }).click();
  check(await clerk.getByLabel('不予受理理由').getAttribute('aria-invalid') === 'true', 'reason required');
  await clerk.getByLabel('不予受理理由').fill('不属于本机关职权范围');
  check(await clerk.isDisabled('#do-reject'), '不予受理 disabled before printing');
  await printNotice(clerk, '#print-rejection', no);
  await clerk.click('#do-reject');
  await clerk.locator('#done', { hasText: '不予受理' }).waitFor();
});

await step('a bad rating opens a 整改 task that the department answers', async () => {
  const page = await newUser('public');
  await page.goto(BASE + '/public/#/query');
  await page.getByLabel('办件编号').fill(corrNo);
  await page.getByLabel('查询密码').fill(corrPassword);
  await page.getByRole('button', { name: '查询' }).click();
  await page.locator('#public-state', { hasText: '已办结' }).waitFor();
  await page.getByLabel('非常不满意').check();
  await page.getByLabel('评价意见').fill('等待时间太长');
  await page.getByRole('button', { name: '提交评价' }).click();
  await page.locator('#rated').waitFor();
  await page.context().close();
  await clerk.getByRole('navigation').getByRole('link', { name: '整改' }).click();
  const row = clerk.getByRole('row', { name: /等待时间太长/ });
  await row.getByRole('button', { name: '答复' }).click();
  await clerk.getByLabel('整改情况').fill('已优化窗口排队流程');
  await clerk.getByRole('button', { name: '提交答复' }).click();
  await clerk.getByRole('row', { name: /已答复：已优化窗口排队流程/ }).waitFor();
});

await step('the public checks a printed notice by its number and 核验码', async () => {
  const page = await newUser('public');
  await page.goto(BASE + '/public/#/verify');
  await page.getByLabel('通知书编号').fill(decision.no);
  await page.getByLabel('核验码').fill(decision.sha);
  await page.getByRole('button', { name: '验证' }).click();
  await page.locator('#verified', { hasText: '真实有效' }).waitFor();
  await page.getByLabel('核验码').fill('0'.repeat(64));
  await page.getByRole('button', { name: '验证' }).click();
  await page.locator('#verified', { hasText: '不符' }).waitFor();
  await page.context().close();
});

let ask;
const TITLE = `食品经营许可需要哪些材料？（${Date.now() % 100000}）`;
await step('a question asked on the portal', async () => {
  const page = await newUser('asker');
  await page.goto(BASE + '/public/#/guide');
  await page.getByLabel('事项名称或编码').fill('食品');
  await page.getByRole('button', { name: '搜索' }).click();
  await page.getByRole('link', { name: '食品经营许可' }).click();
  await page.locator('#conditions', { hasText: '食品经营许可申请书' }).waitFor();
  await page.getByRole('link', { name: '对此事项提问' }).click();
  await page.getByLabel('标题').fill(TITLE);
  await page.getByLabel('咨询内容').fill('我想开一家小餐馆，需要准备哪些材料？');
  await page.getByLabel('您的姓名').fill('李四');
  await page.getByRole('button', { name: '提交咨询' }).click();
  ask = { id: (await page.locator('#ask-id').innerText()).trim(), code: (await page.locator('#ask-code').innerText()).trim() };
  await page.context().close();
});

await step('the clerk answers it in 咨询处理', async () => {
  await clerk.goto(BASE + '/staff/#/consult');
  await clerk.getByLabel('状态').selectOption('pending');
  await clerk.getByRole('button', { name: '查询' }).click();
  await clerk.getByRole('link', { name: TITLE }).click();
  await clerk.getByLabel('回复内容').fill('需要申请书、营业执照复印件和法定代表人身份证明。');
  // the replier by name, among the department's users
  check(await clerk.getByLabel('回复人').inputValue() !== '', 'a replier chosen by default');
  await clerk.getByLabel('回复人').selectOption({ label: '王承办' });
  await clerk.getByLabel('回复类型').selectOption('public');
  await clerk.getByRole('button', { name: '回复', exact: true }).click();
  await clerk.locator('#reply', { hasText: '营业执照复印件' }).waitFor();
  await clerk.locator('#reply', { hasText: '王承办' }).waitFor();
});

await step('the asker reads the answer with the code, and it is among the public answers', async () => {
  const page = await newUser('asker');
  await page.goto(BASE + '/public/#/mine');
  await page.getByLabel('咨询编号').fill(ask.id);
  await page.getByLabel('查询码').fill(ask.code);
  await page.getByRole('button', { name: '查看' }).click();
  await page.locator('#mine', { hasText: '营业执照复印件' }).waitFor();
  await page.goto(BASE + '/public/#/answers');
  await page.locator('#answers', { hasText: TITLE }).waitFor();
  await page.context().close();
});

await step('the supervisor sees the statistics with charts', async () => {
  const page = await login('supervisor');
  await page.goto(BASE + '/staff/#/stats');
  await page.locator('figure.chart svg').first().waitFor();
  check((await page.locator('#stats table').innerText()).includes('芙蓉区行政审批服务局'), 'department row');
  await page.goto(BASE + '/staff/#/supervision');
  await page.getByLabel('预警级别').selectOption('red');
  await page.getByRole('button', { name: '查询' }).click();
  const red = process.env.GOVSVC_RED_CASE;
  const row = page.getByRole('row', { name: new RegExp(red) });
  await row.getByRole('button', { name: '发牌' }).click();
  await page.getByLabel('牌色').selectOption('red');
  await page.getByLabel('原因').fill('超期未办结');
  await page.locator('dialog').getByRole('button', { name: '发牌' }).click();
  await page.locator('#flash', { hasText: '已发牌' }).waitFor();
  await page.click('#logout');
  await page.getByLabel('用户名').waitFor();
  await page.context().close();
});

await step('the department answers the red card (黄红牌)', async () => {
  const page = await login('handler');
  await page.getByRole('navigation').getByRole('link', { name: '黄红牌' }).click();
  const row = page.getByRole('row', { name: /超期未办结/ });
  await row.getByRole('button', { name: '答复' }).click();
  await page.getByLabel('答复内容').fill('已督促承办人当日办结。');
  await page.getByRole('button', { name: '提交答复' }).click();
  await page.locator('#flash', { hasText: '已答复' }).waitFor();
  await page.getByRole('row', { name: /已答复：已督促承办人当日办结/ }).waitFor();
  await page.context().close();
});

// every input, select and textarea of a page has a <label> (or aria-label)
async function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label'))
    .map((e) => e.name || e.id || e.outerHTML.slice(0, 60)));
}

await step('keyboard only: sign in and open a case from the 待办', async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'zh-CN' });
  const page = await ctx.newPage();
  track(page, 'keyboard');
  await page.goto(BASE + '/staff/');
  await page.getByLabel('用户名').waitFor();
  await page.keyboard.type('handler');        // the user name has the focus
  await page.keyboard.press('Tab');
  await page.keyboard.type(PW);
  await page.keyboard.press('Enter');
  await page.locator('#logout').waitFor();
  await page.locator('#list tbody tr').first().waitFor();
  // Tab until the first case link of the list has the focus, then Enter
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement.closest('#list') !== null)) break;
  }
  const focused = await page.evaluate(() => document.activeElement.textContent);
  check(/^\d{20}$/.test(focused), 'a case link has the focus: ' + focused);
  await page.keyboard.press('Enter');
  await page.locator('#case-data').waitFor();
  await ctx.close();
});

await step('a <label> for every field on every page', async () => {
  const bad = [];
  const staff = await login('clerk');
  const sup = await login('supervisor');
  const visits = [
    [staff, '/staff/#/accept'], [staff, '/staff/#/case/' + caseNo], [staff, '/staff/#/query'],
    [staff, '/staff/#/abnormal'], [staff, '/staff/#/consult'], [staff, '/staff/#/cards'],
    [staff, '/staff/#/rectify'], [sup, '/staff/#/supervision'], [sup, '/staff/#/stats'],
    [sup, '/staff/#/case/' + caseNo],
  ];
  const pub = await newUser('public');
  for (const r of ['guide', 'query', 'ask', 'answers', 'mine', 'verify']) visits.push([pub, '/public/#/' + r]);
  for (const [page, path] of visits) {
    await page.goto(BASE + path);
    await page.locator('main form, main section').first().waitFor();
    await page.waitForLoadState('networkidle');
    const u = await unlabelled(page);
    if (u.length) bad.push(`${path}: ${u.join(', ')}`);
  }
  // the accept form with an item's own fields and the materials
  await staff.goto(BASE + '/staff/#/accept');
  await staff.getByRole('row', { name: /食品经营许可/ }).getByRole('button', { name: '选择' }).click();
  await staff.getByLabel('项目名称').waitFor();
  const u = await unlabelled(staff);
  if (u.length) bad.push('accept form: ' + u.join(', '));
  check(!bad.length, 'unlabelled fields: ' + bad.join(' | '));
  for (const p of [staff, sup, pub]) await p.context().close();
});

await step('no script error and no CSP violation on any page', async () => {
  check(!errors.length, errors.join('\n'));
});

await browser.close();
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
