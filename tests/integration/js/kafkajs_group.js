// kafkajs 2.2.4 consumer group against a gregord: two consumers of one group share a
// 4-partition topic 2+2, read its 400 records exactly once and auto-commit them; the admin
// API then fetches the committed offsets, lists, describes and deletes the group.
// Usage: node kafkajs_group.js HOST:PORT
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const assert = require('assert')
const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')
const { waitUntil, produceSpread } = require('./group_util')
const kafka = new Kafka({ clientId: 'kjs-group', brokers: [process.argv[2]], logLevel: logLevel.WARN })
const topic = 'kjs-group-topic'
const groupId = 'kjs-group'
const PARTITIONS = 4
const PER_PARTITION = 100

;(async () => {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true })

  // Both members join (and the group settles) before anything is produced: records read by a
  // member before a rebalance moved their partitions would be read again by the next owner.
  const seen = new Map() // "partition:offset" -> consumer name
  const dups = []
  const assignments = {} // consumer name -> partitions of its latest GROUP_JOIN
  const joins = {}
  const consumers = ['c1', 'c2'].map(name => {
    const c = kafka.consumer({ groupId, heartbeatInterval: 300, sessionTimeout: 10000, maxWaitTimeInMs: 100 })
    c.on(c.events.GROUP_JOIN, e => {
      assignments[name] = (e.payload.memberAssignment[topic] || []).slice().sort()
      joins[name] = (joins[name] || 0) + 1
    })
    c.name = name
    return c
  })
  for (const c of consumers) {
    await c.connect()
    await c.subscribe({ topics: [topic], fromBeginning: true })
    await c.run({
      eachMessage: async ({ partition, message }) => {
        const k = `${partition}:${message.offset}`
        if (seen.has(k)) dups.push([k, seen.get(k), c.name])
        seen.set(k, c.name)
        const i = Number(message.key.toString().slice(1))
        assert.strictEqual(i % PARTITIONS, partition, `record ${message.key} in partition ${partition}`)
        assert.strictEqual(Math.floor(i / PARTITIONS), Number(message.offset))
        assert.strictEqual(message.value.toString(), 'v' + i)
      }
    })
  }
  await waitUntil(() => {
    const a1 = assignments.c1 || []
    const a2 = assignments.c2 || []
    return a1.length === 2 && a2.length === 2 &&
      JSON.stringify([...a1, ...a2].sort()) === JSON.stringify([0, 1, 2, 3])
  }, 20000, () => 'both consumers to be assigned 2 partitions: ' + JSON.stringify(assignments))
  const joinsWhenSettled = { ...joins }

  // while both are members: the group is Stable with two members, 2 partitions each
  const live = (await admin.describeGroups([groupId])).groups[0]
  assert.strictEqual(live.state, 'Stable', JSON.stringify(live))
  assert.strictEqual(live.protocolType, 'consumer')
  assert.strictEqual(live.members.length, 2, JSON.stringify(live))
  const described = live.members.map(m => {
    const a = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
    return a.assignment[topic].slice().sort()
  }).sort()
  assert.deepStrictEqual(described, [assignments.c1, assignments.c2].sort())
  // ... and cannot be deleted
  await assert.rejects(admin.deleteGroups([groupId]), e => {
    assert.strictEqual(e.name, 'KafkaJSDeleteGroupsError', String(e))
    assert.strictEqual(e.groups.length, 1)
    assert.strictEqual(e.groups[0].errorCode, 68) // NON_EMPTY_GROUP
    return true
  })

  await produceSpread(kafka, topic, PARTITIONS, PER_PARTITION)

  await waitUntil(() => seen.size + dups.length >= PARTITIONS * PER_PARTITION, 20000,
    () => `all ${PARTITIONS * PER_PARTITION} records (have ${seen.size})`)
  assert.deepStrictEqual(dups, [], 'records read twice')
  assert.strictEqual(seen.size, PARTITIONS * PER_PARTITION)
  // each consumer read exactly its own partitions; no rebalance happened meanwhile
  for (const [k, name] of seen) {
    assert.ok(assignments[name].includes(Number(k.split(':')[0])), `${k} read by ${name}`)
  }
  assert.deepStrictEqual(joins, joinsWhenSettled, 'a rebalance while consuming')

  // autoCommit (the default) commits after each batch; all of it lands at 100 per partition
  const committed = async () => {
    const res = await admin.fetchOffsets({ groupId, topics: [topic] })
    assert.strictEqual(res.length, 1)
    assert.strictEqual(res[0].topic, topic)
    return res[0].partitions.slice().sort((a, b) => a.partition - b.partition)
      .map(p => [p.partition, Number(p.offset)])
  }
  const want = [...Array(PARTITIONS).keys()].map(p => [p, PER_PARTITION])
  await waitUntil(async () => JSON.stringify(await committed()) === JSON.stringify(want), 10000,
    'the committed offsets to reach 100 per partition')
  for (const c of consumers) await c.disconnect()
  assert.deepStrictEqual(await committed(), want)

  const { groups } = await admin.listGroups()
  assert.ok(groups.some(g => g.groupId === groupId && g.protocolType === 'consumer'), JSON.stringify(groups))
  // Empty once both have left (polled: when the last member leaves a Stable group, gregord
  // reaches Empty only at its next tick; see test_group_is_empty_as_soon_as_its_last_member_has_left)
  let last
  await waitUntil(async () => {
    const gs = (await admin.describeGroups([groupId])).groups
    assert.strictEqual(gs.length, 1)
    last = gs[0]
    assert.strictEqual(last.groupId, groupId)
    assert.strictEqual(last.errorCode, 0)
    return last.state === 'Empty'
  }, 10000, () => 'the group to be Empty: ' + JSON.stringify(last))
  assert.deepStrictEqual(last.members, [])

  const del = await admin.deleteGroups([groupId])
  assert.deepStrictEqual(del.map(r => [r.groupId, r.errorCode]), [[groupId, 0]])
  assert.ok(!(await admin.listGroups()).groups.some(g => g.groupId === groupId))
  // the deleted group's offsets are gone
  assert.deepStrictEqual(await committed(), want.map(([p]) => [p, -1]))
  await admin.disconnect()
  console.log('kafkajs group: ok')
})().catch(e => { console.error('FAILED', e); process.exit(1) })
