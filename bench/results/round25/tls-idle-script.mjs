// Opens N raw TCP connections to a TLS gateway and sends nothing (no ClientHello); every 5 s prints
// how many the gateway closed, its open descriptors, and the time of one HTTPS GET /healthz.
// node bench/results/round25/tls-idle-script.mjs <port> <gateway pid> <connections> <ca.pem>
import net from 'node:net'; import https from 'node:https'; import fs from 'node:fs';
const [port, pid, n = '3000', ca] = process.argv.slice(2);
let open = 0, closed = 0;
for (let i = 0; i < Number(n); i++) { const s = net.connect(Number(port), '127.0.0.1'); s.on('connect', () => open++); s.on('error', () => {}); s.on('close', () => closed++); await new Promise((r) => setImmediate(r)); }
const fds = () => fs.readdirSync(`/proc/${pid}/fd`).length;
const probe = () => new Promise((resolve) => { const t = performance.now(); https.get({ host: '127.0.0.1', port: Number(port), path: '/healthz', ca: fs.readFileSync(ca), servername: 'localhost', timeout: 10000 }, (res) => { res.resume(); res.on('end', () => resolve(`${res.statusCode} in ${Math.round(performance.now() - t)} ms`)); }).on('error', (e) => resolve(`error ${e.code ?? e.message}`)).on('timeout', function () { this.destroy(new Error('timeout')); }); });
for (let t = 0; t < 6; t++) { await new Promise((r) => setTimeout(r, 5000)); console.log(`${(t + 1) * 5}s open ${open} closed ${closed} gateway fds ${fds()} probe ${await probe()}`); }
process.exit(0);
