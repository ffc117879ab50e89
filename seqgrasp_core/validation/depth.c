/* Largest penetration depth of clustered points into a solid or a hand primitive.

   The same branch and bound as depth_into and depth_into_primitive in
   penetration.py (the reference, used without a C compiler), without numpy's
   per-call overhead; the result is the same maximum up to rounding.

   A cloud is P points sorted into C clusters: cluster c holds points
   start[c] .. start[c+1]-1, has centre centre[c] and radius radius[c], and its
   points are in the frame of owner[c]. t holds n_t row-major 4x4 transforms into
   the solid's (or primitive's) frame: with n_t == 1 it moves every point, else
   t[owner[c]] moves cluster c, and active (n_t bytes, or NULL for all) says which
   owners to test. A solid's planes and cover are (4, F) row-major, rows n_x, n_y,
   n_z, d; a point with n.x > d for some plane lies outside. tree is NULL for a
   convex solid, else the nine arrays of mesh_signed_distance in its order. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

void mesh_signed_distance(const double *points, int64_t n, const double *tri,
                          const double *face_normal, const double *edge_normal,
                          const double *corner_normal, const double *node_lo,
                          const double *node_hi, const int64_t *node_child,
                          const int64_t *node_start, const int64_t *node_count,
                          double *out);

enum { SPHERE = 2, CAPSULE = 3, CYLINDER = 5, BOX = 6 };  /* mjtGeom values */

static void apply(const double *t, const double *p, double *out) {
    for (int i = 0; i < 3; i++)
        out[i] = t[4 * i] * p[0] + t[4 * i + 1] * p[1] + t[4 * i + 2] * p[2] + t[4 * i + 3];
}

/* max_f (n_f . x - d_f): > 0 outside the intersection of the planes. */
static double plane_excess(const double *planes, int64_t n, const double *x) {
    double worst = -INFINITY;
    for (int64_t f = 0; f < n; f++) {
        double e = planes[f] * x[0] + planes[n + f] * x[1] + planes[2 * n + f] * x[2]
                   - planes[3 * n + f];
        if (e > worst) worst = e;
    }
    return worst;
}

static double signed_distance(const void *const *tree, const double *x) {
    double d;
    mesh_signed_distance(x, 1, tree[0], tree[1], tree[2], tree[3], tree[4], tree[5],
                         tree[6], tree[7], tree[8], &d);
    return d;
}

typedef struct { double bound; int64_t cluster; } Candidate;

static int deeper_first(const void *a, const void *b) {
    double x = ((const Candidate *)a)->bound, y = ((const Candidate *)b)->bound;
    return (x < y) - (x > y);
}

double depth_into_solid(const double *points, const int64_t *start, const double *centre,
                        const double *radius, const int64_t *owner, int64_t n_clusters,
                        const double *t, int64_t n_t, const uint8_t *active,
                        const double *lo, const double *hi, const double *body_centre,
                        double body_radius, const double *planes, int64_t n_planes,
                        const double *cover, int64_t n_cover, const void *const *tree,
                        double best) {
    Candidate *cand = malloc(sizeof(Candidate) * (size_t)(n_clusters > 0 ? n_clusters : 1));
    if (cand == NULL) return NAN;
    int64_t n = 0;
    for (int64_t c = 0; c < n_clusters; c++) {
        int64_t k = n_t > 1 ? owner[c] : 0;
        if (active != NULL && !active[k]) continue;
        const double *m = t + 16 * k, r = radius[c];
        double x[3];
        apply(m, centre + 3 * c, x);
        double dx = x[0] - body_centre[0], dy = x[1] - body_centre[1], dz = x[2] - body_centre[2];
        if (sqrt(dx * dx + dy * dy + dz * dz) >= body_radius + r) continue;
        int outside = 0;
        for (int i = 0; i < 3; i++)
            if (!(x[i] > lo[i] - r && x[i] < hi[i] + r)) outside = 1;
        if (outside || plane_excess(cover, n_cover, x) >= r) continue;
        /* Signed distances are 1-Lipschitz, and inside the hull the depth into the
           mesh is at most the depth into the hull: no point of the cluster is
           deeper than either bound. */
        double bound = r - plane_excess(planes, n_planes, x);
        if (tree != NULL) {
            double b = r - signed_distance(tree, x);
            if (b < bound) bound = b;
        }
        if (bound > best) cand[n++] = (Candidate){bound, c};
    }
    qsort(cand, (size_t)n, sizeof(Candidate), deeper_first);
    for (int64_t i = 0; i < n && cand[i].bound > best; i++) {
        int64_t c = cand[i].cluster;
        const double *m = t + 16 * (n_t > 1 ? owner[c] : 0);
        for (int64_t p = start[c]; p < start[c + 1]; p++) {
            double y[3];
            apply(m, points + 3 * p, y);
            if (plane_excess(cover, n_cover, y) >= 0) continue;
            double hull_depth = -plane_excess(planes, n_planes, y);
            if (hull_depth <= best) continue;
            double depth = tree == NULL ? hull_depth : -signed_distance(tree, y);
            if (depth > best) best = depth;
        }
    }
    free(cand);
    return best;
}

/* Analytic signed distance of x to a primitive centred at the origin of its frame
   (size: half extents; radius and half length for capsules and cylinders). */
static double primitive_sdf(int kind, const double *size, const double *x) {
    if (kind == BOX) {
        double q[3], out = 0, in = -INFINITY;
        for (int i = 0; i < 3; i++) {
            q[i] = fabs(x[i]) - size[i];
            if (q[i] > 0) out += q[i] * q[i];
            if (q[i] > in) in = q[i];
        }
        return sqrt(out) + (in < 0 ? in : 0);
    }
    if (kind == SPHERE) return sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]) - size[0];
    double r = size[0], h = size[1];
    if (kind == CAPSULE) {
        double z = x[2] - (x[2] < -h ? -h : (x[2] > h ? h : x[2]));
        return sqrt(x[0] * x[0] + x[1] * x[1] + z * z) - r;
    }
    /* CYLINDER */
    double a = sqrt(x[0] * x[0] + x[1] * x[1]) - r, b = fabs(x[2]) - h;
    double in = a > b ? a : b;
    double pa = a > 0 ? a : 0, pb = b > 0 ? b : 0;
    return (in < 0 ? in : 0) + sqrt(pa * pa + pb * pb);
}

double depth_into_primitive(const double *points, const int64_t *start,
                            const double *centre, const double *radius, int64_t n_clusters,
                            const double *t, int kind, const double *size, double rbound,
                            double best) {
    for (int64_t c = 0; c < n_clusters; c++) {
        double x[3], r = radius[c];
        apply(t, centre + 3 * c, x);
        if (sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]) >= rbound + r) continue;
        if (r - primitive_sdf(kind, size, x) <= best) continue;
        for (int64_t p = start[c]; p < start[c + 1]; p++) {
            double y[3];
            apply(t, points + 3 * p, y);
            double depth = -primitive_sdf(kind, size, y);
            if (depth > best) best = depth;
        }
    }
    return best;
}
