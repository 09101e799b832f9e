/* A C program using a compiled model through the header lowbitc writes
 * beside it (the "basic" test model: y = relu(x @ w + b), x [?, ?, 64]). */
#include MODEL_HEADER

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char error[256];
  lowbit_model *model = lowbit_model_create(error, sizeof error);
  if (!model) {
    printf("create failed: %s\n", error);
    return 1;
  }
  lowbit_tensor_info info;
  lowbit_model_input_info(model, 0, &info);
  printf("inputs %lld outputs %lld; input %s rank %lld dims %lld %lld %lld\n",
         (long long)lowbit_model_num_inputs(model), (long long)lowbit_model_num_outputs(model),
         info.name, (long long)info.rank, (long long)info.dims[0], (long long)info.dims[1],
         (long long)info.dims[2]);

  float x[2 * 3 * 64];
  for (int i = 0; i < 2 * 3 * 64; ++i)
    x[i] = (float)(i % 7) / 7.0f;
  lowbit_tensor in = {.name = "x", .dtype = LOWBIT_F32, .rank = 3, .dims = {2, 3, 64}, .data = x};

  /* The runtime allocates the output. */
  lowbit_tensor out = {0};
  lowbit_status status = lowbit_model_run(model, &in, 1, &out, 1);
  printf("run %d: %s dims %lld %lld %lld owned %d\n", (int)status, out.name, (long long)out.dims[0],
         (long long)out.dims[1], (long long)out.dims[2], out.owned);

  /* Into the caller's buffer: the same values. */
  float y[2 * 3 * 16];
  lowbit_tensor mine = {.dtype = LOWBIT_F32, .rank = 3, .dims = {2, 3, 16}, .data = y};
  status = lowbit_model_run(model, &in, 1, &mine, 1);
  float diff = 0;
  for (int i = 0; i < 2 * 3 * 16; ++i)
    diff = fmaxf(diff, fabsf(y[i] - ((float *)out.data)[i]));
  printf("caller buffer %d, max difference %g, owned %d\n", (int)status, diff, mine.owned);
  lowbit_tensor_release(&out);

  /* Errors come back as codes with messages. */
  lowbit_tensor wrong = in;
  wrong.name = "z";
  lowbit_tensor out2 = {0};
  status = lowbit_model_run(model, &wrong, 1, &out2, 1);
  printf("wrong name %d: %s\n", (int)status, lowbit_model_last_error(model));
  wrong = in;
  wrong.dims[2] = 65;
  status = lowbit_model_run(model, &wrong, 1, &out2, 1);
  printf("wrong size %d: %s\n", (int)status, lowbit_model_last_error(model));
  float small[4];
  lowbit_tensor tooSmall = {.dtype = LOWBIT_F32, .rank = 3, .dims = {1, 2, 2}, .data = small};
  status = lowbit_model_run(model, &in, 1, &tooSmall, 1);
  printf("wrong output buffer %d: %s\n", (int)status, lowbit_model_last_error(model));
  lowbit_tensor_release(&out2);
  lowbit_model_destroy(model);
  return 0;
}
