/**
 * The dashboard in a real browser: Debian's chromium driven by puppeteer-core, against `run
 * --http --api-token` and the simulator as child processes, on a phone-sized screen. The page
 * takes the token from the URL fragment, lists the sessions, links a new one with a QR that the
 * simulated phone scans (read from the image the page shows), turns green, and logs a session
 * out only after a confirmation. Screenshots go to the test's temp folder (and to
 * docs/dashboard.png with BAILEYS_VAULT_SCREENSHOT=1).
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { API_TOKEN, controlRun, decodeQrPng } from '../helpers/control-api.js'
import { entered, spawnCli, startSimChild, type CliChild, type SimChild } from '../helpers/run-child.js'

const DOCS_SCREENSHOT = fileURLToPath(new URL('../../../docs/dashboard.png', import.meta.url))
const card = (id: string) => `.session[data-session="${id}"]`

describe('the dashboard in chromium', () => {
  let sim: SimChild
  let run: CliChild
  let browser: Browser
  let dir: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vault-dashboard-'))
    sim = await startSimChild()
    run = spawnCli([...controlRun(sim, dir, ['--api-token', API_TOKEN, '--backup-dir', join(dir, 'backups')]), '--json'])
    browser = await puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${join(dir, 'profile')}`
      ]
    })
  })
  after(async () => {
    await browser?.close()
    run?.kill()
    await sim?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  async function phonePage(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage()
    await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    const errors: string[] = []
    page.on('pageerror', err => errors.push(String(err)))
    return { page, errors }
  }

  it('shows the sessions, links one by the QR it shows (green), and logs out only after a confirmation', { timeout: 90_000 }, async () => {
    const { url: base } = await run.waitFor(e => e.event === 'http', { what: 'the http event' })

    // Without a token the page asks for one and shows nothing else.
    const { page: bare } = await phonePage()
    await bare.goto(`${base}/`)
    assert.equal(await bare.$eval('#login', el => (el as HTMLElement).hidden), false)
    assert.equal(await bare.$eval('#main', el => (el as HTMLElement).hidden), true)
    await bare.close()

    const { page, errors } = await phonePage()
    await page.goto(`${base}/#token=${API_TOKEN}`)
    assert.ok(!page.url().includes(API_TOKEN), 'the token leaves the address bar')
    await page.waitForFunction(() => document.querySelector('#sessions')?.textContent?.includes('No sessions yet'), { timeout: 20_000 })
    await page.waitForFunction(() => document.querySelector('#live')?.textContent === 'live', { timeout: 20_000 })

    // Link a new session from the page: its QR appears; the phone scans what the image shows.
    await page.type('#new-id', 'sales')
    await page.click('#create button')
    await page.waitForSelector(`${card('sales')} img.qr`, { timeout: 30_000 })
    await page.waitForFunction(
      (sel: string) => (document.querySelector(sel) as HTMLImageElement | null)?.naturalWidth ?? 0 > 0,
      { timeout: 30_000 },
      `${card('sales')} img.qr`
    )
    const shown = Buffer.from(await (await page.$(`${card('sales')} img.qr`))!.screenshot({ path: join(dir, 'qr.png') }))
    const qr = decodeQrPng(shown)
    assert.ok(
      run.events.some(e => e.event === 'qr' && e.qr === qr),
      'the page shows a QR the session emitted'
    )
    const scanned = await sim.call('POST', '/scan', qr)
    assert.equal(scanned.status, 200, JSON.stringify(scanned.body))
    await run.waitFor(entered('connected'), { what: 'sales connected' })
    await page.waitForSelector(`${card('sales')}[data-state="connected"]`, { timeout: 20_000 })
    const green = await page.$eval(`${card('sales')} .state`, el => getComputedStyle(el).backgroundColor)
    assert.equal(green, 'rgb(26, 127, 55)', 'a connected session is green')
    assert.match(await page.$eval(card('sales'), el => el.textContent ?? ''), /this instance/, 'the lease owner is shown')

    // A second session, left linking, for the screenshot; the page fits a phone's width.
    await page.type('#new-id', 'support')
    await page.click('#create button')
    await page.waitForSelector(`${card('support')} img.qr`, { timeout: 30_000 })
    await new Promise(r => setTimeout(r, 500)) // let the QR image paint before the screenshot
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling on a phone')
    await page.screenshot({ path: join(dir, 'dashboard.png'), fullPage: true })
    if (process.env.BAILEYS_VAULT_SCREENSHOT === '1') copyFileSync(join(dir, 'dashboard.png'), DOCS_SCREENSHOT)

    // Log out: dismissing the confirmation changes nothing; accepting it removes the session.
    const questions: string[] = []
    page.once('dialog', dialog => {
      questions.push(dialog.message())
      void dialog.dismiss()
    })
    await page.click(`${card('sales')} button[data-action="logout"]`)
    assert.match(questions[0] ?? '', /Log sales out/)
    await new Promise(r => setTimeout(r, 300))
    assert.ok(await page.$(card('sales')), 'a dismissed confirmation logs nothing out')
    assert.equal(run.events.filter(e => entered('expired')(e)).length, 0)
    page.once('dialog', dialog => {
      questions.push(dialog.message())
      void dialog.accept()
    })
    await page.click(`${card('sales')} button[data-action="logout"]`)
    await page.waitForFunction((sel: string) => !document.querySelector(sel), { timeout: 30_000 }, card('sales'))
    assert.equal(questions.length, 2)
    assert.ok(
      run.events.some(e => e.event === 'backup' && e.session === 'sales'),
      'a backup was taken before the logout cleared it'
    )
    assert.ok(!(await sim.call('GET', '/devices')).body.some((d: any) => d.jid === scanned.body.jid), 'the device is gone from the phone')
    await page.screenshot({ path: join(dir, 'after-logout.png'), fullPage: true })
    assert.deepEqual(errors, [], 'no script error on the page')
    run.kill('SIGTERM')
    assert.equal((await run.exited(20_000)).code, 0, run.stderr())
  })
})
