/* Exact signed distance from points to a closed triangle mesh (double precision).

   The nearest triangle is found by a depth-first walk of a bounding-volume tree
   (built in mesh_distance.py), visiting the nearer child first and skipping every
   box farther away than the nearest triangle found so far. The closest point on a
   triangle is found by the Voronoi-region tests of Ericson, "Real-Time Collision
   Detection" (2005), §5.1.5, which also tell which feature (face, edge or corner)
   it lies on. The sign is that of (p − closest) · N, with N the feature's
   pseudonormal (Bærentzen and Aanæs 2005): the face normal, the sum of the two
   face normals at an edge, or the angle-weighted normal at a corner; it is exact
   for a closed, consistently oriented mesh.

   Layout (all row-major): tri (F, 3, 3) corners; face_normal (F, 3);
   edge_normal (F, 3, 3), edge k running from corner k to corner k+1;
   corner_normal (F, 3, 3); node_lo/node_hi (N, 3); node_child (N, 2), -1 at a
   leaf; node_start/node_count (N,) the leaf's triangles in tri order. */

#include <math.h>
#include <stdint.h>

#define STACK 128

static double dot3(const double *a, const double *b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/* Closest point on triangle abc to p into q; returns the feature: 0 the face,
   1..3 the edges ab, bc, ca, 4..6 the corners a, b, c. */
static int closest_on_triangle(const double *p, const double *t, double *q) {
    const double *a = t, *b = t + 3, *c = t + 6;
    double ab[3], ac[3], ap[3], bp[3], cp[3];
    for (int i = 0; i < 3; i++) {
        ab[i] = b[i] - a[i]; ac[i] = c[i] - a[i]; ap[i] = p[i] - a[i];
        bp[i] = p[i] - b[i]; cp[i] = p[i] - c[i];
    }
    double d1 = dot3(ab, ap), d2 = dot3(ac, ap);
    if (d1 <= 0 && d2 <= 0) { for (int i = 0; i < 3; i++) q[i] = a[i]; return 4; }
    double d3 = dot3(ab, bp), d4 = dot3(ac, bp);
    if (d3 >= 0 && d4 <= d3) { for (int i = 0; i < 3; i++) q[i] = b[i]; return 5; }
    double vc = d1 * d4 - d3 * d2;
    if (vc <= 0 && d1 >= 0 && d3 <= 0) {
        double v = d1 / (d1 - d3);
        for (int i = 0; i < 3; i++) q[i] = a[i] + v * ab[i];
        return 1;
    }
    double d5 = dot3(ab, cp), d6 = dot3(ac, cp);
    if (d6 >= 0 && d5 <= d6) { for (int i = 0; i < 3; i++) q[i] = c[i]; return 6; }
    double vb = d5 * d2 - d1 * d6;
    if (vb <= 0 && d2 >= 0 && d6 <= 0) {
        double w = d2 / (d2 - d6);
        for (int i = 0; i < 3; i++) q[i] = a[i] + w * ac[i];
        return 3;
    }
    double va = d3 * d6 - d5 * d4;
    if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
        double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        for (int i = 0; i < 3; i++) q[i] = b[i] + w * (c[i] - b[i]);
        return 2;
    }
    double denom = 1.0 / (va + vb + vc);
    double v = vb * denom, w = vc * denom;
    for (int i = 0; i < 3; i++) q[i] = a[i] + ab[i] * v + ac[i] * w;
    return 0;
}

static double box_distance2(const double *p, const double *lo, const double *hi) {
    double d2 = 0;
    for (int i = 0; i < 3; i++) {
        double e = p[i] < lo[i] ? lo[i] - p[i] : (p[i] > hi[i] ? p[i] - hi[i] : 0.0);
        d2 += e * e;
    }
    return d2;
}

void mesh_signed_distance(const double *points, int64_t n, const double *tri,
                          const double *face_normal, const double *edge_normal,
                          const double *corner_normal, const double *node_lo,
                          const double *node_hi, const int64_t *node_child,
                          const int64_t *node_start, const int64_t *node_count,
                          double *out) {
    for (int64_t k = 0; k < n; k++) {
        const double *p = points + 3 * k;
        double best = INFINITY, best_q[3] = {0, 0, 0};
        int64_t best_f = -1;
        int best_feature = 0;
        int64_t stack[STACK];
        int top = 0;
        stack[top++] = 0;
        while (top > 0) {
            int64_t node = stack[--top];
            if (box_distance2(p, node_lo + 3 * node, node_hi + 3 * node) >= best) continue;
            int64_t left = node_child[2 * node], right = node_child[2 * node + 1];
            if (left < 0) {
                for (int64_t f = node_start[node]; f < node_start[node] + node_count[node]; f++) {
                    double q[3];
                    int feature = closest_on_triangle(p, tri + 9 * f, q);
                    double d[3] = {p[0] - q[0], p[1] - q[1], p[2] - q[2]};
                    double d2 = dot3(d, d);
                    if (d2 < best) {
                        best = d2; best_f = f; best_feature = feature;
                        best_q[0] = q[0]; best_q[1] = q[1]; best_q[2] = q[2];
                    }
                }
                continue;
            }
            double dl = box_distance2(p, node_lo + 3 * left, node_hi + 3 * left);
            double dr = box_distance2(p, node_lo + 3 * right, node_hi + 3 * right);
            /* Push the farther child first so the nearer one is walked first. */
            if (dl < dr) { stack[top++] = right; stack[top++] = left; }
            else { stack[top++] = left; stack[top++] = right; }
        }
        const double *normal;
        if (best_feature == 0) normal = face_normal + 3 * best_f;
        else if (best_feature <= 3) normal = edge_normal + 9 * best_f + 3 * (best_feature - 1);
        else normal = corner_normal + 9 * best_f + 3 * (best_feature - 4);
        double d[3] = {p[0] - best_q[0], p[1] - best_q[1], p[2] - best_q[2]};
        double dist = sqrt(best);
        out[k] = dot3(d, normal) < 0 ? -dist : dist;
    }
}
