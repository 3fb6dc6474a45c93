// Drives an MLLP listener with two HL7 implementations not written in this project
// (node-hl7-client and simple-hl7): each sends every message of messages.json and
// parses the acknowledgement with its own parser. Prints one JSON line per answer:
// {lib, sent, msa1, msa2, type} and exits non-zero if any send fails or times out.
'use strict';
const fs = require('fs');
const [port, file] = [Number(process.argv[2]), process.argv[3]];
const messages = JSON.parse(fs.readFileSync(file, 'utf8'));

function withTimeout(p, ms, what) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ': timeout')), ms))]);
}

async function nodeHL7Client() {
  const { Client, Message } = require('node-hl7-client');
  const client = new Client({ host: '127.0.0.1' });
  const answers = [];
  let wake = null;
  const conn = client.createConnection({ port, waitAck: true, maxConnectionAttempts: 3 }, async (res) => {
    const m = res.getMessage();
    answers.push({
      lib: 'node-hl7-client',
      msa1: m.get('MSA.1').toString(),
      msa2: m.get('MSA.2').toString(),
      type: m.get('MSH.9.1').toString() + '^' + m.get('MSH.9.2').toString(),
    });
    if (wake) wake();
  });
  for (const [i, text] of messages.entries()) {
    const done = new Promise((r) => { wake = r; });
    await conn.sendMessage(new Message({ text }));
    await withTimeout(done, 5000, 'node-hl7-client message ' + i);
    answers[answers.length - 1].sent = i;
  }
  await conn.close();
  return answers;
}

async function simpleHL7() {
  const hl7 = require('simple-hl7');
  const parser = new hl7.Parser({ segmentSeperator: '\r' });
  const client = hl7.Server.createTcpClient({ host: '127.0.0.1', port, keepalive: true });
  const answers = [];
  for (const [i, text] of messages.entries()) {
    const ack = await withTimeout(new Promise((resolve, reject) => {
      client.send(parser.parse(text), (err, ack) => (err ? reject(err) : resolve(ack)));
    }), 5000, 'simple-hl7 message ' + i);
    const msa = ack.getSegment('MSA');
    answers.push({
      lib: 'simple-hl7', sent: i,
      msa1: msa.getField(1).toString(), msa2: msa.getField(2).toString(),
      type: ack.header.getComponent(7, 1) + '^' + ack.header.getComponent(7, 2),
    });
  }
  client.close();
  return answers;
}

(async () => {
  for (const run of [nodeHL7Client, simpleHL7]) {
    for (const a of await run()) console.log(JSON.stringify(a));
  }
  process.exit(0);
})().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
