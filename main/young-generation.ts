import v8 from 'node:v8';

/**
 * Imported first by each main-process entry (Electron's main, the browser host), before anything
 * else loads. V8 doubles its young generation up to 2 x 16 MiB once a busy spell follows enough
 * surviving allocations, and a start-up always leaves enough: the first long file transfer
 * then added some 26-36 MiB to the end user's main process for nothing that lived (bench/README.md,
 * `transfer`). A growth factor of 1 keeps the young generation at its starting size, so the
 * process spends a few more sub-millisecond scavenges instead of the memory. It is read whenever
 * V8 considers growing, which is why setting it at run time works where --max-semi-space-size
 * (read once, when the heap is made) would need a command-line flag Electron's main cannot take.
 */
v8.setFlagsFromString('--semi-space-growth-factor=1');
