// Asset hashes change whenever the handler bundle or the sharp layer is rebuilt with other
// content; snapshots should fail on template changes, not on that.
expect.addSnapshotSerializer({
  test: (val: unknown) => typeof val === 'string' && /[A-Fa-f0-9]{64}\.zip/.test(val),
  print: (val: unknown) => JSON.stringify((val as string).replace(/[A-Fa-f0-9]{64}\.zip/g, '[HASH REMOVED].zip')),
});
