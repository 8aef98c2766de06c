// Helpers shared by kafkajs_group.js and kafkajs_group_scenarios.js.

// Polls cond every 50 ms until it returns something truthy (returned), or throws after
// timeoutMs naming what (a string, or a function giving one) it waited for.
async function waitUntil (cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

// Produces partitions * perPartition records, key 'k<i>' and value 'v<i>', record i to
// partition i % partitions, with acks=all, through a producer of its own.
async function produceSpread (kafka, topic, partitions, perPartition) {
  const producer = kafka.producer()
  await producer.connect()
  const messages = []
  for (let i = 0; i < partitions * perPartition; i++) {
    messages.push({ key: 'k' + i, value: 'v' + i, partition: i % partitions })
  }
  await producer.send({ topic, messages, acks: -1 })
  await producer.disconnect()
}

module.exports = { waitUntil, produceSpread }
