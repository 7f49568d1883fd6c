/* plot.c — the training curves as a PNG (cairo): loss per epoch on the left axis, test top-1
 * accuracy on the right, redrawn after every epoch. Built as a module of its own
 * (libincept_plot.so, beside the incept program) that `incept train --plot` loads when asked
 * (plot_loader.c): cairo brings the X11 and font stack, 1.6 MB of resident memory in every
 * process that maps it, which inference has no use for. The library does not depend on cairo. */
#define _DEFAULT_SOURCE /* M_PI */
#include <cairo.h>
#include <math.h>
#include <stdio.h>

#include "plot.h"

#define W 720
#define H 420
#define LEFT 70
#define RIGHT 70
#define TOP 40
#define BOTTOM 50

static double x_at(int i, int n) { return LEFT + (n > 1 ? (double)i / (n - 1) : 0.5) * (W - LEFT - RIGHT); }

static void polyline(cairo_t *cr, const double *v, int n, double lo, double hi, double r, double g,
                     double b)
{
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2.0);
    int started = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        double y = H - BOTTOM - (v[i] - lo) / (hi - lo) * (H - TOP - BOTTOM);
        if (started)
            cairo_line_to(cr, x_at(i, n), y);
        else
            cairo_move_to(cr, x_at(i, n), y);
        started = 1;
    }
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        cairo_arc(cr, x_at(i, n), H - BOTTOM - (v[i] - lo) / (hi - lo) * (H - TOP - BOTTOM), 3, 0,
                  2 * M_PI);
        cairo_fill(cr);
    }
}

int incept_plot_training(const char *path, const double *loss, const double *accuracy, int epochs)
{
    double lo = INFINITY, hi = -INFINITY, alo = INFINITY, ahi = -INFINITY;
    for (int i = 0; i < epochs; i++) {
        if (isfinite(loss[i])) {
            lo = fmin(lo, loss[i]);
            hi = fmax(hi, loss[i]);
        }
        if (isfinite(accuracy[i])) {
            alo = fmin(alo, accuracy[i]);
            ahi = fmax(ahi, accuracy[i]);
        }
    }
    if (!isfinite(lo))
        lo = 0, hi = 1;
    lo = fmin(lo, 0.0), hi = hi > lo ? hi * 1.05 : lo + 1;
    if (!isfinite(alo))
        alo = 0, ahi = 1;
    alo = floor(alo * 20) / 20, ahi = fmin(1.0, ceil(ahi * 20) / 20);
    if (ahi <= alo)
        ahi = alo + 0.05;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    char label[64];
    for (int k = 0; k <= 5; k++) { /* grid, loss ticks left, accuracy ticks right */
        double y = H - BOTTOM - k / 5.0 * (H - TOP - BOTTOM);
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_set_line_width(cr, 1.0);
        cairo_move_to(cr, LEFT, y);
        cairo_line_to(cr, W - RIGHT, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.12, 0.35, 0.75);
        snprintf(label, sizeof label, "%.3g", lo + k / 5.0 * (hi - lo));
        cairo_move_to(cr, 10, y + 4);
        cairo_show_text(cr, label);
        cairo_set_source_rgb(cr, 0.85, 0.4, 0.05);
        snprintf(label, sizeof label, "%.1f%%", 100 * (alo + k / 5.0 * (ahi - alo)));
        cairo_move_to(cr, W - RIGHT + 8, y + 4);
        cairo_show_text(cr, label);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    for (int i = 0; i < epochs; i++) {
        if (epochs > 12 && i % (epochs / 12 + 1) && i != epochs - 1)
            continue;
        snprintf(label, sizeof label, "%d", i + 1);
        cairo_move_to(cr, x_at(i, epochs) - 4, H - BOTTOM + 18);
        cairo_show_text(cr, label);
    }
    cairo_move_to(cr, W / 2 - 20, H - 12);
    cairo_show_text(cr, "epoch");
    cairo_set_font_size(cr, 14);
    cairo_move_to(cr, LEFT, 24);
    cairo_set_source_rgb(cr, 0.12, 0.35, 0.75);
    cairo_show_text(cr, "training loss");
    cairo_move_to(cr, W - RIGHT - 150, 24);
    cairo_set_source_rgb(cr, 0.85, 0.4, 0.05);
    cairo_show_text(cr, "test top-1 accuracy");
    polyline(cr, loss, epochs, lo, hi, 0.12, 0.35, 0.75);
    polyline(cr, accuracy, epochs, alo, ahi, 0.85, 0.4, 0.05);
    cairo_destroy(cr);
    cairo_status_t status = cairo_surface_write_to_png(surface, path);
    cairo_surface_destroy(surface);
    if (status != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "incept: %s: cannot write the plot: %s\n", path, cairo_status_to_string(status));
        return 1;
    }
    return 0;
}
