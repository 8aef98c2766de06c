// kafkajs 2.2.4 consumer-group scenarios against gregord, driven by tests_groups_clients.py.
//
//   node kafkajs_group_scenarios.js rebalance BROKERS TOPIC GROUP PARTITIONS PER_PARTITION
//     Three consumers of one group share the (existing, empty) topic 2+2+2 and read the records
//     then produced exactly once; a fourth makes it 1+1+2+2; three more make seven on six
//     partitions, one idle.  Each consumer's assignment is that of its latest GROUP_JOIN event,
//     and a settled group is one that describeGroups shows Stable with the same assignments.
//     Prints "kafkajs rebalance: ok".
//
//   node kafkajs_group_scenarios.js consume BROKERS TOPIC GROUP FROM_BEGINNING
//     One consumer of the group reads the topic to its end (every partition's offsets from 0
//     to its high watermark exactly once: the group must start there), auto-commits, and
//     leaves once the committed offsets are the high watermarks.  FROM_BEGINNING is "true" or
//     "false" (kafkajs's fromBeginning: where to start without a committed offset).  Prints
//     a JSON line {"event": "consumed", ...} and "kafkajs consume: ok".
//
//   node kafkajs_group_scenarios.js failover BROKERS TOPIC GROUP PARTITIONS PER_PARTITION
//     Three consumers (auto-commit after every batch) share the topic; once the group is
//     stable a producer writes PER_PARTITION (a multiple of 100) records to each partition
//     slowly (~8 s).  Talks to the driver in JSON lines: {"event": "stable"} when the group
//     settled, {"event": "produced", firstSendMs, lastAckMs, ...} when every record is acked;
//     it then waits for "stop" on stdin (the driver saw every offset committed) and leaves the
//     group.  Prints {"event": "done", crashes, joins} and "kafkajs failover: ok".
//
// BROKERS is comma-separated HOST:PORT.  The client's log (level KAFKAJS_LOG_LEVEL, default
// WARN) goes to stderr.  Exits 1 with the error on any failure.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const assert = require('assert')
const readline = require('readline')
const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')
const { waitUntil, produceSpread } = require('./group_util')

const [mode, brokers, topic, groupId, ...rest] = process.argv.slice(2)
const kafka = new Kafka({
  clientId: 'kjs-scenarios',
  brokers: brokers.split(','),
  logLevel: logLevel[process.env.KAFKAJS_LOG_LEVEL || 'WARN'],
  // stdout carries the JSON lines for the driver: the client's own log goes to stderr
  logCreator: () => ({ namespace, level, label, log }) => {
    process.stderr.write(`${new Date().toISOString()} ${label} [${namespace}] ${log.message} ${JSON.stringify(log)}\n`)
  },
  retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 2000 }
})

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const sorted = ps => ps.slice().sort((a, b) => a - b)

// A consumer of the group; .assigned is the partition list of its latest GROUP_JOIN,
// .memberId its member id, .joins how many GROUP_JOINs it saw, .crashes its CRASH events.
function groupConsumer (name, onMessage, opts = {}) {
  const c = kafka.consumer({
    groupId,
    heartbeatInterval: 300,
    sessionTimeout: 10000,
    maxWaitTimeInMs: 100,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 2000 },
    ...opts
  })
  c.name = name
  c.assigned = null
  c.joins = 0
  c.crashes = []
  c.on(c.events.GROUP_JOIN, e => {
    c.memberId = e.payload.memberId
    c.assigned = sorted(e.payload.memberAssignment[topic] || [])
    c.joins++
  })
  c.on(c.events.CRASH, e => {
    c.crashes.push({ error: String(e.payload.error), restart: e.payload.restart })
  })
  c.start = async fromBeginning => {
    await c.connect()
    await c.subscribe({ topics: [topic], fromBeginning })
    await c.run({ eachMessage: async m => onMessage(c, m) })
  }
  return c
}

// describeGroups' view: {state, members: {memberId: sorted partitions}}
async function described (admin) {
  const { groups } = await admin.describeGroups([groupId])
  assert.strictEqual(groups.length, 1)
  const g = groups[0]
  const members = {}
  for (const m of g.members) {
    const a = m.memberAssignment && m.memberAssignment.length
      ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
      : null
    members[m.memberId] = sorted((a && a.assignment[topic]) || [])
  }
  return { state: g.state, members }
}

// Waits until the consumers' assignments have the sizes in shares, are disjoint and cover
// every partition, and describeGroups shows the group Stable with exactly these members and
// assignments.
async function waitSettled (admin, consumers, partitions, shares, timeoutMs) {
  let last = null
  await waitUntil(async () => {
    const views = consumers.map(c => c.assigned)
    if (views.some(v => v === null)) return false
    const sizes = sorted(views.map(v => v.length))
    const union = sorted([].concat(...views))
    if (JSON.stringify(sizes) !== JSON.stringify(sorted(shares))) return false
    if (JSON.stringify(union) !== JSON.stringify([...Array(partitions).keys()])) return false
    last = await described(admin)
    if (last.state !== 'Stable' || Object.keys(last.members).length !== consumers.length) return false
    return consumers.every(c => JSON.stringify(last.members[c.memberId]) === JSON.stringify(c.assigned))
  }, timeoutMs, () => `shares ${JSON.stringify(shares)}: consumers ` +
    JSON.stringify(consumers.map(c => [c.name, c.memberId, c.assigned])) +
    ', describeGroups ' + JSON.stringify(last))
}

async function rebalance (partitions, perPartition) {
  const admin = kafka.admin()
  await admin.connect()
  const seen = new Map() // "partition:offset" -> consumer name
  const dups = []
  const misplaced = []
  const onMessage = (c, { partition, message }) => {
    const k = `${partition}:${message.offset}`
    if (seen.has(k)) dups.push([k, seen.get(k), c.name])
    seen.set(k, c.name)
    if (!c.assigned.includes(partition)) misplaced.push([k, c.name, c.assigned])
    const i = Number(message.key.toString().slice(1))
    assert.strictEqual(i % partitions, partition, `record ${message.key} in partition ${partition}`)
    assert.strictEqual(Math.floor(i / partitions), Number(message.offset))
  }
  const consumers = []
  const add = async n => {
    const fresh = []
    for (let i = 0; i < n; i++) fresh.push(groupConsumer(`c${consumers.length + fresh.length + 1}`, onMessage))
    consumers.push(...fresh)
    await Promise.all(fresh.map(c => c.start(true)))
  }
  try {
    await add(3)
    await waitSettled(admin, consumers, partitions, [2, 2, 2], 20000)
    const joinsSettled = consumers.map(c => c.joins)

    // settled before anything is produced: each record is read once, by its partition's owner
    await produceSpread(kafka, topic, partitions, perPartition)
    await waitUntil(() => seen.size + dups.length >= partitions * perPartition, 20000,
      () => `all ${partitions * perPartition} records (have ${seen.size})`)
    assert.deepStrictEqual(dups, [], 'records read twice')
    assert.deepStrictEqual(misplaced, [], 'records read by a consumer not assigned their partition')
    assert.deepStrictEqual(consumers.map(c => c.joins), joinsSettled, 'a rebalance while consuming')

    await add(1) // a fourth: everyone rebalances, all six still covered
    await waitSettled(admin, consumers, partitions, [1, 1, 2, 2], 20000)
    assert.ok(consumers.slice(0, 3).every((c, i) => c.joins > joinsSettled[i]), 'the first three rejoined')
    await add(3) // seven on six partitions: one idle
    await waitSettled(admin, consumers, partitions, [0, 1, 1, 1, 1, 1, 1], 25000)
    const crashes = consumers.filter(c => c.crashes.length).map(c => [c.name, c.crashes])
    assert.deepStrictEqual(crashes, [], 'consumer crashes')
  } finally {
    await Promise.all(consumers.map(c => c.disconnect()))
    await admin.disconnect()
  }
  console.log('kafkajs rebalance: ok')
}

async function consume (fromBeginning) {
  const admin = kafka.admin()
  await admin.connect()
  const high = {}
  for (const o of await admin.fetchTopicOffsets(topic)) high[o.partition] = Number(o.high)
  const total = Object.values(high).reduce((a, b) => a + b, 0)
  const got = new Map() // "partition:offset" -> times read
  let count = 0
  const c = groupConsumer('c1', (c, { partition, message }) => {
    const k = `${partition}:${message.offset}`
    got.set(k, (got.get(k) || 0) + 1)
    count++
  })
  try {
    await c.start(fromBeginning)
    await waitUntil(() => count >= total, 20000, () => `all ${total} records (have ${count})`)
    const committed = async () => {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] })
      const out = {}
      for (const p of res[0].partitions) out[p.partition] = Number(p.offset)
      return out
    }
    await waitUntil(async () => JSON.stringify(await committed()) === JSON.stringify(high), 10000,
      () => 'the committed offsets to reach ' + JSON.stringify(high))
    for (const [p, h] of Object.entries(high)) {
      for (let o = 0; o < h; o++) {
        assert.strictEqual(got.get(`${p}:${o}`), 1, `partition ${p} offset ${o} read ${got.get(`${p}:${o}`) || 0} times`)
      }
    }
    assert.strictEqual(count, total)
    assert.deepStrictEqual(c.crashes, [], 'consumer crashes')
  } finally {
    await c.disconnect()
    await admin.disconnect()
  }
  emit({ event: 'consumed', count, high })
  console.log('kafkajs consume: ok')
}

async function failover (partitions, perPartition) {
  const stdin = readline.createInterface({ input: process.stdin })
  const stopped = new Promise(resolve => stdin.on('line', l => { if (l.trim() === 'stop') resolve() }))
  const admin = kafka.admin()
  await admin.connect()
  let consumed = 0
  // kafkajs keeps the coordinator it found at its last join (ConsumerGroup.coordinator):
  // heartbeats and commits go on failing against the killed broker (ECONNREFUSED does not
  // make it look the coordinator up again) until the runner's retrier gives up, the
  // consumer crashes and restarts (restartOnFailure) and joins again as a new member, through
  // FindCoordinator.  Few, short retries and a short session (the new coordinator waits for
  // the members it loaded from __consumer_offsets until their sessions expire) keep that short.
  const opts = { sessionTimeout: 6000, retry: { retries: 6, initialRetryTime: 100, maxRetryTime: 1000 } }
  const consumers = ['c1', 'c2', 'c3'].map(n => groupConsumer(n, () => { consumed++ }, opts))
  try {
    await Promise.all(consumers.map(c => c.start(true)))
    await waitSettled(admin, consumers, partitions, [2, 2, 2], 30000)
    await admin.disconnect()
    emit({ event: 'stable', assignments: consumers.map(c => [c.name, c.assigned]) })

    // ~8 s of production: 100 sends, one every 80 ms, of PER_PARTITION / 100 records to
    // each partition
    const producer = kafka.producer({ retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
    await producer.connect()
    const firstSendMs = Date.now()
    const batches = 100
    const per = perPartition / batches
    assert.ok(Number.isInteger(per), 'PER_PARTITION must be a multiple of 100')
    // One send() per partition: a send() to several leaders that fails at one of them retries
    // only at the leaders that have not answered yet (sendMessages' responsePerBroker), so
    // records whose partition moved to a leader that already answered would be dropped while
    // send() resolves (kafkajs 2.2.4; seen here as 990 of 1000 records on the killed
    // broker's partitions).
    for (let b = 0; b < batches; b++) {
      const t0 = Date.now()
      await Promise.all([...Array(partitions).keys()].map(p => {
        const messages = []
        for (let i = 0; i < per; i++) messages.push({ value: `${b}.${i}`, partition: p })
        return producer.send({ topic, messages, acks: -1 })
      }))
      const wait = 80 - (Date.now() - t0)
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    }
    const lastAckMs = Date.now()
    await producer.disconnect()
    emit({ event: 'produced', firstSendMs, lastAckMs, records: batches * per * partitions })
    await stopped
  } finally {
    stdin.close()
    await Promise.all(consumers.map(c => c.disconnect()))
  }
  emit({
    event: 'done',
    consumed,
    joins: consumers.map(c => [c.name, c.joins]),
    crashes: consumers.filter(c => c.crashes.length).map(c => [c.name, c.crashes])
  })
  console.log('kafkajs failover: ok')
}

;(async () => {
  if (mode === 'rebalance') await rebalance(Number(rest[0]), Number(rest[1]))
  else if (mode === 'consume') await consume(rest[0] === 'true')
  else if (mode === 'failover') await failover(Number(rest[0]), Number(rest[1]))
  else throw new Error(`unknown mode ${mode}`)
})().catch(e => { console.error('FAILED', e); process.exit(1) })
