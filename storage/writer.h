/*  storage/writer.h — the group-commit writer.

    One thread owns all writes. Producers (the engine, run hosts) send
    commit requests over inproc; the writer drains every request that is
    waiting (up to a cap), applies them all in ONE RocksDB WriteBatch, pays
    one fsync (sync durability), and only then acks each producer. So a 2xx
    or a step ack always means "on disk", and the fsync cost is shared by
    everything that arrived meanwhile. A run host stages the snapshots of
    one pass over its runs (zf_rec_snapshot_put) into one batch and sends
    it as one store.commit, then computes its next pass while this one is
    committed.

    The writer binds a ROUTER at `endpoint` (e.g. "inproc://zf-writer").
    Producers connect a DEALER and send [""][header][body][extra...]:

      type "store.commit"  extra[0] = 8-byte zf_batch_t* (in-process only;
                           the writer takes ownership and destroys it)

    Replies: [""][reply header ok/error, corr = request id][body {}].
    An invalid request gets an error reply and touches nothing.
*/
#ifndef ZF_WRITER_H
#define ZF_WRITER_H

#include "storage/store.h"
#include <czmq.h>

typedef struct zf_writer_t zf_writer_t;

//  Starts the writer thread bound at endpoint. store is borrowed and must
//  outlive the writer. Returns NULL if the bind fails.
zf_writer_t *zf_writer_new(zf_store_t *store, const char *endpoint);
//  Stops the thread after committing what is queued.
void zf_writer_destroy(zf_writer_t **self_p);

//  Producer helper: sends a store.commit of *batch_p (taken) with the given
//  request id on a DEALER connected to the writer. Returns 0 or -1.
int zf_writer_submit(void *dealer, zf_batch_t **batch_p, const char *req_id);

//  Statistics: commits done and requests acknowledged so far.
void zf_writer_stats(zf_writer_t *self, uint64_t *commits, uint64_t *requests);

#endif
