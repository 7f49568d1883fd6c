/* app.c — a program built against an installed incept (tests/install.sh): GoogLeNet built in C,
 * one forward pass on a grey image, its top class printed. */
#include <stdio.h>
#include <stdlib.h>

#include <incept.h>

int main(void)
{
    incept_model *model = NULL;
    incept_session *session = NULL;
    float *image = calloc(3 * 224 * 224, sizeof(float)), scores[1000];
    if (!image || incept_model_googlenet(1000, 7, &model) || incept_session_new(model, &session) ||
        incept_session_forward(session, image, 1, scores)) {
        fprintf(stderr, "app: %s\n", incept_last_error());
        return 1;
    }
    int top = 0;
    for (int k = 1; k < 1000; k++)
        top = scores[k] > scores[top] ? k : top;
    printf("incept %s: GoogLeNet ran, top class %d\n", incept_version(), top);
    incept_session_free(session);
    incept_model_free(model);
    free(image);
    return 0;
}
