// The Node BullMQ client's getJobCounts() on every queue, the way a Node dashboard would
// read them: one shared ioredis connection, the queues one after another ("sequential")
// and all at once with Promise.all ("parallel": ioredis pipelines them on the socket).
//
//   node job_counts.mjs REDIS_URL ROUNDS QUEUE...
// prints {"sequential": s, "parallel": s, "counts": {...first queue...}}: the median over
// ROUNDS of each, after one warm-up (connection ready, Lua scripts cached).
import { Queue } from 'bullmq';
import IORedis from 'ioredis';

const [url, rounds, ...names] = process.argv.slice(2);
const connection = new IORedis(url, { maxRetriesPerRequest: null });
const queues = names.map(name => new Queue(name, { connection }));

async function sequential() {
  for (const q of queues) await q.getJobCounts();
}

async function parallel() {
  await Promise.all(queues.map(q => q.getJobCounts()));
}

async function median(fn) {
  await fn();
  const times = [];
  for (let i = 0; i < Number(rounds); i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const result = { sequential: await median(sequential), parallel: await median(parallel),
                 counts: await queues[0].getJobCounts() };
for (const q of queues) await q.close();
await connection.quit();
console.log(JSON.stringify(result));
