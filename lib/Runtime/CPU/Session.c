/*===- Session.c - A stateful decode session over a model ------------------===*
 *
 * lowbit_session_* (include/lowbit-c/Runtime.h): the model's KV cache kept
 * between steps, in whatever layout the compiler gave it (f32, or levels
 * and scales after --quantize=kv-cache): each step feeds every output
 * present.X of the last step back as input past.X. Built on the model's
 * public C API only.
 *
 *===----------------------------------------------------------------------===*/

#include "lowbit-c/Runtime.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lowbit_session {
  lowbit_model *model;
  int64_t num_inputs, num_outputs;
  lowbit_tensor_info *inputs, *outputs;
  int64_t ids_input, logits_output, vocab, length;
  /* For input i that is past.X: the output index of present.X, else -1. */
  int64_t *present_of;
  /* The outputs of the last step (the cache), NULL data before the first. */
  lowbit_tensor *last;
  char error[512];
};

static void set_error(char *error, size_t size, const char *format, ...) {
  if (!error || !size)
    return;
  va_list args;
  va_start(args, format);
  vsnprintf(error, size, format, args);
  va_end(args);
}

lowbit_session *lowbit_session_create(lowbit_model *model, char *error, size_t error_size) {
  if (!model) {
    set_error(error, error_size, "lowbit_session_create: model is NULL");
    return NULL;
  }
  lowbit_session *s = calloc(1, sizeof *s);
  if (!s) {
    set_error(error, error_size, "lowbit_session_create: out of memory");
    return NULL;
  }
  s->model = model;
  s->num_inputs = lowbit_model_num_inputs(model);
  s->num_outputs = lowbit_model_num_outputs(model);
  s->inputs = calloc((size_t)s->num_inputs, sizeof *s->inputs);
  s->outputs = calloc((size_t)s->num_outputs, sizeof *s->outputs);
  s->present_of = calloc((size_t)s->num_inputs, sizeof *s->present_of);
  s->last = calloc((size_t)s->num_outputs, sizeof *s->last);
  if (!s->inputs || !s->outputs || !s->present_of || !s->last) {
    set_error(error, error_size, "lowbit_session_create: out of memory");
    lowbit_session_destroy(s);
    return NULL;
  }
  s->ids_input = s->logits_output = -1;
  for (int64_t i = 0; i < s->num_outputs; ++i) {
    lowbit_model_output_info(model, i, &s->outputs[i]);
    if (strcmp(s->outputs[i].name, "logits") == 0 && s->outputs[i].dtype == LOWBIT_F32 &&
        s->outputs[i].rank == 3)
      s->logits_output = i;
  }
  for (int64_t i = 0; i < s->num_inputs; ++i) {
    lowbit_model_input_info(model, i, &s->inputs[i]);
    const char *name = s->inputs[i].name;
    s->present_of[i] = -1;
    if (strcmp(name, "input_ids") == 0 && s->inputs[i].dtype == LOWBIT_I64 &&
        s->inputs[i].rank == 2) {
      s->ids_input = i;
      continue;
    }
    if (strncmp(name, "past.", 5) != 0) {
      set_error(error, error_size,
                "lowbit_session_create: input '%s' is neither input_ids nor a past.* cache",
                name);
      lowbit_session_destroy(s);
      return NULL;
    }
    for (int64_t o = 0; o < s->num_outputs; ++o)
      if (strncmp(s->outputs[o].name, "present.", 8) == 0 &&
          strcmp(s->outputs[o].name + 8, name + 5) == 0)
        s->present_of[i] = o;
    if (s->present_of[i] < 0) {
      set_error(error, error_size, "lowbit_session_create: no output present.%s for input %s",
                name + 5, name);
      lowbit_session_destroy(s);
      return NULL;
    }
  }
  if (s->ids_input < 0 || s->logits_output < 0) {
    set_error(error, error_size,
              "lowbit_session_create: not a language model (needs input_ids [batch, seq] i64 "
              "and logits [batch, seq, vocab] f32)");
    lowbit_session_destroy(s);
    return NULL;
  }
  s->vocab = s->outputs[s->logits_output].dims[2];
  return s;
}

int64_t lowbit_session_length(const lowbit_session *s) { return s ? s->length : 0; }

void lowbit_session_reset(lowbit_session *s) {
  if (!s)
    return;
  for (int64_t o = 0; o < s->num_outputs; ++o)
    lowbit_tensor_release(&s->last[o]);
  s->length = 0;
}

void lowbit_session_destroy(lowbit_session *s) {
  if (!s)
    return;
  if (s->last)
    lowbit_session_reset(s);
  free(s->inputs);
  free(s->outputs);
  free(s->present_of);
  free(s->last);
  free(s);
}

const char *lowbit_session_last_error(const lowbit_session *s) {
  return s ? s->error : "no session (NULL)";
}

lowbit_status lowbit_session_step(lowbit_session *s, const int64_t *ids, int64_t count,
                                  float *logits, int64_t logits_size) {
  if (!s)
    return LOWBIT_INVALID_ARGUMENT;
  if (!ids || count < 1) {
    set_error(s->error, sizeof s->error, "lowbit_session_step: no token ids");
    return LOWBIT_INVALID_ARGUMENT;
  }
  int64_t vocab = s->vocab > 0 ? s->vocab : 0;
  if (logits && vocab && logits_size < count * vocab) {
    set_error(s->error, sizeof s->error,
              "lowbit_session_step: logits holds %lld floats, %lld tokens need %lld",
              (long long)logits_size, (long long)count, (long long)(count * vocab));
    return LOWBIT_INVALID_ARGUMENT;
  }
  lowbit_tensor *in = calloc((size_t)s->num_inputs, sizeof *in);
  lowbit_tensor *out = calloc((size_t)s->num_outputs, sizeof *out);
  if (!in || !out) {
    free(in);
    free(out);
    set_error(s->error, sizeof s->error, "lowbit_session_step: out of memory");
    return LOWBIT_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; i < s->num_inputs; ++i) {
    const lowbit_tensor_info *info = &s->inputs[i];
    in[i].name = info->name;
    in[i].dtype = info->dtype;
    in[i].rank = info->rank;
    if (i == s->ids_input) {
      in[i].dims[0] = 1;
      in[i].dims[1] = count;
      in[i].data = (void *)(intptr_t)ids; /* inputs are only read */
    } else if (s->length > 0) { /* the cache from the last step */
      const lowbit_tensor *present = &s->last[s->present_of[i]];
      memcpy(in[i].dims, present->dims, sizeof in[i].dims);
      in[i].data = present->data;
    } else { /* empty: batch 1, nothing along the sequence axis (2) */
      for (int64_t d = 0; d < info->rank; ++d)
        in[i].dims[d] = d == 0 ? 1 : d == 2 ? 0 : info->dims[d] < 0 ? 1 : info->dims[d];
    }
  }
  lowbit_status status = lowbit_model_run(s->model, in, s->num_inputs, out, s->num_outputs);
  if (status != LOWBIT_OK) {
    snprintf(s->error, sizeof s->error, "%s", lowbit_model_last_error(s->model));
  } else {
    const lowbit_tensor *l = &out[s->logits_output];
    if (logits)
      memcpy(logits, l->data, (size_t)(l->dims[1] * l->dims[2]) * sizeof(float));
    for (int64_t o = 0; o < s->num_outputs; ++o) {
      lowbit_tensor_release(&s->last[o]);
      s->last[o] = out[o]; /* the presents become the next step's pasts */
    }
    s->length += count;
  }
  if (status != LOWBIT_OK)
    for (int64_t o = 0; o < s->num_outputs; ++o)
      lowbit_tensor_release(&out[o]);
  free(in);
  free(out);
  return status;
}
