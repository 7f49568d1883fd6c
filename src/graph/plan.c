/* plan.c — turning a graph into something runnable for one batch size:
 *  1. the execution order: the nodes the main output depends on (auxiliary heads drop out);
 *  2. concat without copies: a branch whose only reader is a concat writes straight into its
 *     channel slice of the concat's output (nested concats too);
 *     and ops that can work in place (ReLU, LRN, dropout, flatten) write over an input that
 *     nobody reads afterwards;
 *  3. one activation arena: each buffer lives from its producer to its last reader, and buffers
 *     whose lifetimes do not overlap share memory (first fit by offset);
 *  4. one workspace, sized to the largest scratch request of any node;
 *  5. training plans: a gradient arena laid out like the activations, and the memory each node's
 *     forward keeps for its backward (op->saved_bytes).
 * Inference plans also stack nodes of an op that can compute several readers of one input
 * together (the pointwise convolutions of an Inception module: #1x1, #3x3 reduce and #5x5 reduce
 * as one GEMM), run at the first one's place; their outputs are born there. The planner knows
 * ops only by their flags and hooks (in place, inputs as channel slices, stacking).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "ops/op.h"

#define ALIGN_FLOATS 16 /* 64 bytes: a cache line, an AVX-512 register */

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

void incept_session_drop_plan(incept_session *s)
{
    free(s->order);
    free(s->stack_next);
    free(s->stacked);
    s->stack_next = NULL;
    s->stacked = NULL;
    free(s->views);
    free(s->grad_arena);
    free(s->grad_views);
    free(s->node_input_grads);
    s->grad_arena = NULL;
    s->grad_views = s->node_input_grads = NULL;
    free(s->arena);
    free(s->workspace);
    free(s->node_inputs);
    free(s->saved);
    free(s->saved_at);
    s->saved = NULL;
    s->saved_at = NULL;
    free(s->grad_block);
    free(s->grad_block_offset);
    free(s->grad_block_floats);
    free(s->grad_block_zeroed);
    s->grad_block = NULL;
    s->grad_block_offset = s->grad_block_floats = NULL;
    s->grad_block_zeroed = NULL;
    s->n_grad_blocks = 0;
    incept_session_clear_values(s);
    free(s->nd_grads);
    s->nd_grads = NULL;
    free(s->nd_values);
    free(s->nd_owned);
    free(s->last_reader);
    s->nd_values = NULL;
    s->nd_owned = NULL;
    s->last_reader = NULL;
    s->order = NULL;
    s->views = NULL;
    s->arena = s->workspace = NULL;
    s->node_inputs = NULL;
    s->n_order = 0;
    s->arena_floats = s->workspace_floats = 0;
    s->planned_batch = 0;
}

/* A buffer in the arena: one root value and everything aliased into it. */
typedef struct {
    int root;
    int start, end; /* positions in the order: first written, last read */
    size_t size, offset;
} block;

static int compare_start(const void *a, const void *b)
{
    const block *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->size > y->size ? -1 : x->size < y->size;
}

/* Places blocks in order of start, each at the lowest offset free for its whole lifetime. */
static size_t place_blocks(block *blocks, int count)
{
    size_t arena = 0;
    qsort(blocks, (size_t)count, sizeof *blocks, compare_start);
    for (int i = 0; i < count; i++) {
        size_t offset = 0;
        int moved = 1;
        while (moved) { /* first fit: bump past every overlapping live block until none collide */
            moved = 0;
            for (int j = 0; j < i; j++) {
                if (blocks[j].end < blocks[i].start)
                    continue; /* dead before this one is born */
                if (offset < blocks[j].offset + blocks[j].size &&
                    blocks[j].offset < offset + blocks[i].size) {
                    offset = blocks[j].offset + blocks[j].size;
                    moved = 1;
                }
            }
        }
        blocks[i].offset = offset;
        if (offset + blocks[i].size > arena)
            arena = offset + blocks[i].size;
    }
    return arena;
}

incept_status incept_session_plan(incept_session *s, int batch, int training, int keep)
{
    keep = keep || training;
    const int int8 = s->precision == INCEPT_PRECISION_INT8, bf16 = s->precision == INCEPT_PRECISION_BF16;
    if (training && (int8 || bf16))
        return incept_fail(INCEPT_ERR_ARG, "an %s session does not train: set its precision to fp32",
                           int8 ? "int8" : "bf16");
    if (s->planned_batch == batch && s->planned_keep == keep && s->planned_threads == s->threads &&
        s->planned_training == training && s->planned_precision == s->precision)
        return INCEPT_OK;
    incept_session_drop_plan(s);
    const incept_graph *g = &s->model->graph;
    int nv = g->n_values, nn = g->n_nodes;
    if (g->output < 0)
        return incept_fail(INCEPT_ERR_ARG, "the model has no output");
    for (int v = 0; v < nv; v++) { /* the ops count a layer's values at a batch in ints */
        const incept_value *val = &g->values[v];
        size_t per_sample = (size_t)val->c * val->h * val->w; /* at most INT_MAX (graph.c) */
        if (!val->generic && batch > 0 && per_sample > (size_t)INCEPT_MAX_SAMPLE_VALUES / (size_t)batch)
            return incept_fail(INCEPT_ERR_SHAPE, "at batch %d, '%s' (%dx%dx%d a sample) would hold "
                               "more than %d values", batch, val->name, val->c, val->h, val->w,
                               INCEPT_MAX_SAMPLE_VALUES);
    }

    int *needed = incept_calloc((size_t)nn, sizeof(int));
    int *position = incept_malloc(sizeof(int) * (size_t)nn);  /* node -> place in order */
    int *runs_at = incept_malloc(sizeof(int) * (size_t)nn);   /* place -> where it is computed */
    int *readers = incept_calloc((size_t)nv, sizeof(int));    /* needed readers per value */
    int *last_read = incept_malloc(sizeof(int) * (size_t)nv);
    int *root = incept_malloc(sizeof(int) * (size_t)nv);
    size_t *channel_offset = incept_calloc((size_t)nv, sizeof(size_t));
    block *blocks = incept_malloc(sizeof(block) * (size_t)nv);
    int *block_of = incept_malloc(sizeof(int) * (size_t)nv);
    s->order = incept_malloc(sizeof(int) * (size_t)nn);
    s->stack_next = incept_malloc(sizeof(int) * (size_t)nn);
    s->stacked = incept_calloc((size_t)nn, 1);
    s->views = incept_calloc((size_t)nv, sizeof(incept_view));
    s->nd_values = incept_calloc((size_t)nv, sizeof *s->nd_values);
    s->nd_owned = incept_calloc((size_t)nv, 1);
    s->last_reader = incept_malloc(sizeof(int) * (size_t)nv);
    incept_status st = INCEPT_ERR_NOMEM;
    if (!needed || !position || !runs_at || !readers || !last_read || !root || !channel_offset ||
        !blocks || !block_of || !s->order || !s->views || !s->stack_next || !s->stacked ||
        !s->nd_values || !s->nd_owned || !s->last_reader)
        goto done;

    /* 1. order: walk back from the outputs (nodes are stored in topological order) */
    int *value_needed = readers; /* borrowed as a flag array for this walk */
    value_needed[g->output] = 1;
    for (int i = 0; i < g->n_outputs; i++)
        value_needed[g->outputs[i]] = 1;
    for (int i = nn - 1; i >= 0; i--) {
        const incept_node *n = &g->nodes[i];
        int wanted = training; /* training runs the aux heads too */
        for (int k = 0; k < incept_node_output_count(n) && !wanted; k++) {
            int v = incept_node_output_at(n, k);
            wanted = v >= 0 && value_needed[v];
        }
        if (!wanted)
            continue;
        needed[i] = 1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                value_needed[n->inputs[k]] = 1;
    }
    memset(readers, 0, sizeof(int) * (size_t)nv);
    int max_inputs = 1;
    s->n_order = 0;
    for (int i = 0; i < nn; i++) {
        position[i] = -1;
        if (!needed[i])
            continue;
        position[i] = s->n_order;
        s->order[s->n_order++] = i;
        if (g->nodes[i].n_inputs > max_inputs)
            max_inputs = g->nodes[i].n_inputs;
    }
    /* stacks: later pointwise convolutions of a leader's input run with it (and are born there);
     * an int8 session's run alone, quantized */
    for (int p = 0; p < s->n_order; p++) {
        s->stack_next[p] = -1;
        runs_at[p] = p;
    }
    for (int p = 0; p < s->n_order && !training && !int8; p++) {
        const incept_node *lead = &g->nodes[s->order[p]];
        if (s->stacked[p] || !lead->op->can_stack || !lead->op->can_stack(lead))
            continue;
        for (int q = p + 1, last = p, members = 1; q < s->n_order && members < INCEPT_STACK_MAX; q++) {
            const incept_node *n = &g->nodes[s->order[q]];
            if (s->stacked[q] || n->op != lead->op || !n->op->can_stack(n) ||
                n->inputs[0] != lead->inputs[0])
                continue;
            if (bf16 && !s->forms[s->order[p]] != !s->forms[s->order[q]])
                continue; /* one GEMM is all bf16 or all float */
            s->stack_next[last] = q;
            s->stacked[q] = 1;
            runs_at[q] = p;
            last = q;
            members++;
        }
    }
    for (int v = 0; v < nv; v++) {
        last_read[v] = -1;
        root[v] = v;
    }
    for (int p = 0; p < s->n_order; p++) {
        const incept_node *n = &g->nodes[s->order[p]];
        for (int k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] < 0)
                continue;
            readers[n->inputs[k]]++;
            last_read[n->inputs[k]] = p;
        }
    }
    if (keep)
        for (int v = 0; v < nv; v++)
            last_read[v] = s->n_order;
    last_read[g->output] = s->n_order;
    for (int i = 0; i < g->n_outputs; i++)
        last_read[g->outputs[i]] = s->n_order;
    memcpy(s->last_reader, last_read, sizeof(int) * (size_t)nv);

    /* 2. concat inputs written in place; outer concats first so nested ones chain */
    for (int p = s->n_order - 1; p >= 0; p--) {
        const incept_node *n = &g->nodes[s->order[p]];
        if (!n->op->inputs_are_channel_slices)
            continue;
        size_t offset = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            int u = n->inputs[k];
            const incept_value *uv = &g->values[u];
            if (uv->producer >= 0 && !uv->generic && readers[u] == 1 && u != g->output && root[u] == u) {
                root[u] = root[n->output];
                channel_offset[u] = channel_offset[n->output] + offset;
            }
            offset += (size_t)uv->c;
        }
    }

    /* in place: last node first, so each output's final place is known when its input joins it */
    for (int p = s->n_order - 1; p >= 0 && !keep; p--) {
        const incept_node *n = &g->nodes[s->order[p]];
        if (!n->op->in_place)
            continue;
        int u = n->inputs[0], out = n->output;
        const incept_value *uv = &g->values[u], *ov = &g->values[out];
        if (uv->producer < 0 || uv->generic || readers[u] != 1 || last_read[u] == s->n_order ||
            root[u] != u)
            continue;
        if (uv->c == ov->c && uv->h == ov->h && uv->w == ov->w) {
            root[u] = root[out];
            channel_offset[u] = channel_offset[out];
        } else if (root[out] == out) { /* a reshape (flatten) only over a whole tensor */
            root[u] = out;
        }
    }

    /* 3. one block per root value, spanning every value aliased into it */
    int n_blocks = 0;
    for (int v = 0; v < nv; v++)
        block_of[v] = -1;
    for (int v = 0; v < nv; v++) {
        const incept_value *val = &g->values[v];
        if (v == g->input || val->generic || val->producer < 0 || !needed[val->producer])
            continue; /* generic values live in their own buffers, made as they are computed */
        int r = root[v];
        if (block_of[r] < 0) {
            block_of[r] = n_blocks;
            const incept_value *rv = &g->values[r];
            blocks[n_blocks].root = r;
            blocks[n_blocks].start = s->n_order;
            blocks[n_blocks].end = -1;
            blocks[n_blocks].size = round_up((size_t)batch * rv->c * rv->h * rv->w);
            n_blocks++;
        }
        block *b = &blocks[block_of[r]];
        int born = runs_at[position[val->producer]];
        int dies = last_read[v] < born ? born : last_read[v];
        if (born < b->start)
            b->start = born;
        if (dies > b->end)
            b->end = dies;
    }
    s->arena_floats = place_blocks(blocks, n_blocks);
    for (int i = 0; i < n_blocks; i++)
        block_of[blocks[i].root] = i; /* sorting moved them */

    size_t workspace = 0;
    incept_run_config config = {batch, s->threads, s->exact, training, int8};
    for (int p = 0; p < s->n_order; p++) {
        const incept_node *n = &g->nodes[s->order[p]];
        size_t need = n->op->workspace_floats ? n->op->workspace_floats(g, n, &config) : 0;
        if (need > workspace)
            workspace = need;
        if (training && !n->nd && !n->op->backward) { /* generic nodes: train.c sees to them */
            st = incept_fail(INCEPT_ERR_UNSUPPORTED, "node '%s': op '%s' cannot be trained", n->name,
                             n->op->name);
            goto done;
        }
        need = training && n->op->backward_workspace_floats
                   ? n->op->backward_workspace_floats(g, n, &config) : 0;
        if (need > workspace)
            workspace = need;
    }
    s->workspace_floats = workspace;
    s->arena = incept_alloc_floats(s->arena_floats);
    s->workspace = incept_alloc_floats(workspace);
    s->node_inputs = incept_malloc(sizeof(incept_view) * (size_t)max_inputs);
    if (!s->arena || !s->workspace || !s->node_inputs)
        goto done;
    if (training) {
        size_t saved = 0;
        if (!(s->saved_at = incept_malloc(sizeof(size_t) * (size_t)nn)))
            goto done;
        for (int i = 0; i < nn; i++)
            s->saved_at[i] = SIZE_MAX;
        for (int p = 0; p < s->n_order; p++) {
            const incept_node *n = &g->nodes[s->order[p]];
            size_t bytes = !n->nd && n->op->saved_bytes ? n->op->saved_bytes(g, n, &config) : 0;
            if (bytes) {
                s->saved_at[s->order[p]] = saved;
                saved += (bytes + 63) / 64 * 64;
            }
        }
        if (saved && !(s->saved = incept_malloc(saved)))
            goto done;
        s->grad_arena = incept_alloc_floats(s->arena_floats);
        s->grad_views = incept_calloc((size_t)nv, sizeof(incept_view));
        s->node_input_grads = incept_malloc(sizeof(incept_view) * (size_t)max_inputs);
        s->grad_block = incept_malloc(sizeof(int) * (size_t)nv);
        s->grad_block_offset = incept_malloc(sizeof(size_t) * (size_t)(n_blocks + 1));
        s->grad_block_floats = incept_malloc(sizeof(size_t) * (size_t)(n_blocks + 1));
        s->grad_block_zeroed = incept_calloc((size_t)n_blocks + 1, 1);
        if (!s->grad_arena || !s->grad_views || !s->node_input_grads || !s->grad_block ||
            !s->grad_block_offset || !s->grad_block_floats || !s->grad_block_zeroed)
            goto done;
        /* every value lives to the end of a training pass, so blocks never share memory */
        for (int b = 0; b < n_blocks; b++) {
            s->grad_block_offset[b] = blocks[b].offset;
            s->grad_block_floats[b] = blocks[b].size;
        }
        for (int v = 0; v < nv; v++)
            s->grad_block[v] = v == g->input || block_of[root[v]] < 0 ? -1 : block_of[root[v]];
        s->n_grad_blocks = n_blocks;
    }

    for (int v = 0; v < nv; v++) {
        const incept_value *val = &g->values[v];
        incept_view *t = &s->views[v];
        if (val->generic)
            continue;
        t->n = batch, t->c = val->c, t->h = val->h, t->w = val->w;
        t->batch_stride = (size_t)val->c * val->h * val->w;
        if (block_of[root[v]] < 0 || v == g->input)
            continue; /* the input points at the caller's buffer at run time */
        const incept_value *rv = &g->values[root[v]];
        t->data = s->arena + blocks[block_of[root[v]]].offset + channel_offset[v] * val->h * val->w;
        t->batch_stride = (size_t)rv->c * rv->h * rv->w;
    }
    for (int v = 0; v < nv && training; v++) { /* gradients: the same layout in their own arena */
        s->grad_views[v] = s->views[v];
        if (s->views[v].data)
            s->grad_views[v].data = s->grad_arena + (s->views[v].data - s->arena);
    }
    s->planned_batch = batch;
    s->planned_keep = keep;
    s->planned_threads = s->threads;
    s->planned_training = training;
    s->planned_precision = s->precision;
    st = INCEPT_OK;
done:
    free(needed);
    free(position);
    free(runs_at);
    free(readers);
    free(last_read);
    free(root);
    free(channel_offset);
    free(blocks);
    free(block_of);
    if (st)
        incept_session_drop_plan(s);
    return st;
}
