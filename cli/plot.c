/* plot.c — the training curves as a PNG (cairo): loss per epoch on the left axis, test top-1
 * accuracy on the right, redrawn after every epoch; and the Pareto plot of an experiment
 * (accuracy against multiply-adds, per family of networks). Built as a module of its own
 * (libincept_plot.so, beside the incept program) that `incept train --plot` loads when asked
 * (plot_loader.c): cairo brings the X11 and font stack, 1.6 MB of resident memory in every
 * process that maps it, which inference has no use for. The library does not depend on cairo. */
#define _DEFAULT_SOURCE /* M_PI */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

/* A white canvas with the plots' font, and the PNG written from it (0, or 1 after a message). */
static cairo_t *canvas(cairo_surface_t **surface)
{
    *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(*surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    return cr;
}

static int write_png(cairo_t *cr, cairo_surface_t *surface, const char *path)
{
    cairo_destroy(cr);
    cairo_status_t status = cairo_surface_write_to_png(surface, path);
    cairo_surface_destroy(surface);
    if (status != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "incept: %s: cannot write the plot: %s\n", path, cairo_status_to_string(status));
        return 1;
    }
    return 0;
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
    cairo_surface_t *surface;
    cairo_t *cr = canvas(&surface);
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
    return write_png(cr, surface, path);
}

static void family_color(int f, double *r, double *g, double *b)
{
    static const double palette[8][3] = {{0.12, 0.35, 0.75}, {0.85, 0.4, 0.05}, {0.15, 0.6, 0.25},
                                         {0.6, 0.2, 0.65}, {0.8, 0.15, 0.2}, {0.3, 0.3, 0.3},
                                         {0.1, 0.6, 0.65}, {0.6, 0.5, 0.1}};
    *r = palette[f % 8][0], *g = palette[f % 8][1], *b = palette[f % 8][2];
}

int incept_plot_pareto(const char *path, const char *title, const double *x, const double *y,
                       const int *family, int n, const char *const *names, int families)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > 0 && isfinite(y[i])) {
            xlo = fmin(xlo, log10(x[i])), xhi = fmax(xhi, log10(x[i]));
            ylo = fmin(ylo, y[i]), yhi = fmax(yhi, y[i]);
        }
    if (!isfinite(xlo))
        xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    xlo = floor(xlo * 4) / 4, xhi = ceil(xhi * 4) / 4;
    if (xhi <= xlo)
        xhi = xlo + 0.25;
    ylo = floor(ylo * 100) / 100, yhi = ceil(yhi * 100) / 100;
    if (yhi <= ylo)
        yhi = ylo + 0.01;
    cairo_surface_t *surface;
    cairo_t *cr = canvas(&surface);
#define PX(v) (LEFT + ((v) - xlo) / (xhi - xlo) * (W - LEFT - RIGHT))
#define PY(v) (H - BOTTOM - ((v) - ylo) / (yhi - ylo) * (H - TOP - BOTTOM))
    char label[64];
    for (int k = 0; k <= 5; k++) { /* accuracy grid */
        double v = ylo + k / 5.0 * (yhi - ylo);
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, LEFT, PY(v));
        cairo_line_to(cr, W - RIGHT, PY(v));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(label, sizeof label, "%.1f%%", 100 * v);
        cairo_move_to(cr, 12, PY(v) + 4);
        cairo_show_text(cr, label);
    }
    for (double e = ceil(xlo * 4) / 4; e <= xhi + 1e-9; e += 0.25) { /* multiply-adds, log */
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, PX(e), TOP);
        cairo_line_to(cr, PX(e), H - BOTTOM);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(label, sizeof label, "%.2gM", pow(10, e) / 1e6);
        cairo_move_to(cr, PX(e) - 12, H - BOTTOM + 18);
        cairo_show_text(cr, label);
    }
    cairo_move_to(cr, W / 2 - 90, H - 12);
    cairo_show_text(cr, "multiply-adds per image (log scale)");
    cairo_set_font_size(cr, 14);
    cairo_move_to(cr, LEFT, 24);
    cairo_show_text(cr, title ? title : "test top-1 accuracy against multiply-adds");
    cairo_set_font_size(cr, 12);
    for (int f = 0; f < families; f++) {
        double r, g, b;
        family_color(f, &r, &g, &b);
        cairo_set_source_rgb(cr, r, g, b);
        cairo_set_line_width(cr, 1.5);
        double best = -INFINITY; /* the front: by cost, each model better than every cheaper one */
        int started = 0;
        int *order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), count = 0;
        for (int i = 0; order && i < n; i++)
            if (family[i] == f && x[i] > 0 && isfinite(y[i]))
                order[count++] = i;
        for (int a = 1; a < count; a++) /* by cost */
            for (int c = a; c > 0 && x[order[c]] < x[order[c - 1]]; c--) {
                int t = order[c];
                order[c] = order[c - 1], order[c - 1] = t;
            }
        for (int k = 0; k < count; k++) {
            int i = order[k];
            if (y[i] <= best)
                continue;
            best = y[i];
            if (started)
                cairo_line_to(cr, PX(log10(x[i])), PY(y[i]));
            else
                cairo_move_to(cr, PX(log10(x[i])), PY(y[i]));
            started = 1;
        }
        cairo_stroke(cr);
        for (int k = 0; k < count; k++) {
            cairo_arc(cr, PX(log10(x[order[k]])), PY(y[order[k]]), 4, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        free(order);
        cairo_rectangle(cr, W - RIGHT - 130, TOP + 8 + 18 * f, 10, 10); /* legend */
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, W - RIGHT - 114, TOP + 17 + 18 * f);
        cairo_show_text(cr, names[f]);
    }
#undef PX
#undef PY
    return write_png(cr, surface, path);
}
