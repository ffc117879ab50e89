/* Fused CPU kernels for the optimizer's hot path (see seqgrasp_core/native/__init__.py).
 *
 * Each function does in one pass what the torch fallback does in tens of small tensor
 * operations; on a CPU at a batch of a few hundred grasps those operations cost more
 * in dispatch than in arithmetic. The maths and the layouts are those of
 * seqgrasp_core/kinematics.py and seqgrasp_core/pose.py: transforms are [R | t]
 * blocks stored coordinate-major, (3, 4, ..., B) with the batch last, all arrays
 * C-contiguous. Compiled once per element type: REAL is float or double and SUFFIX
 * names the variant (_f32, _f64).
 */
#include <tgmath.h> /* sin, cos, sqrt in the precision of REAL */
#include <stdint.h>
#include <string.h>

#ifndef REAL
#define REAL float
#endif
#ifndef SUFFIX
#define SUFFIX _f32
#endif
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define NAME(f) CAT(f, SUFFIX)

typedef int64_t idx;

static REAL unit_length(REAL x, REAL y, REAL z) {
    REAL sq = x * x + y * y + z * z;
    return sqrt(sq > (REAL)1e-24 ? sq : (REAL)1e-24);
}

/* Grasp vectors g (B, D) -> hand-to-object blocks out (3, 4, B): columns b1, b2,
 * b1 x b2 (Gram-Schmidt on the 6D rotation g[3:9]) and the translation g[0:3]. */
void NAME(pose_to_block)(const REAL *g, idx B, idx D, REAL *out) {
    for (idx b = 0; b < B; ++b) {
        const REAL *r = g + b * D;
        REAL n1 = unit_length(r[3], r[4], r[5]);
        REAL b1[3] = {r[3] / n1, r[4] / n1, r[5] / n1};
        REAL s = b1[0] * r[6] + b1[1] * r[7] + b1[2] * r[8];
        REAL u[3] = {r[6] - s * b1[0], r[7] - s * b1[1], r[8] - s * b1[2]};
        REAL n2 = unit_length(u[0], u[1], u[2]);
        REAL b2[3] = {u[0] / n2, u[1] / n2, u[2] / n2};
        REAL b3[3] = {b1[1] * b2[2] - b1[2] * b2[1], b1[2] * b2[0] - b1[0] * b2[2],
                      b1[0] * b2[1] - b1[1] * b2[0]};
        for (int i = 0; i < 3; ++i) {
            out[(i * 4 + 0) * B + b] = b1[i];
            out[(i * 4 + 1) * B + b] = b2[i];
            out[(i * 4 + 2) * B + b] = b3[i];
            out[(i * 4 + 3) * B + b] = r[i];
        }
    }
}

/* Backward of pose_to_block: grad (3, 4, B) -> grad_g (B, D) (columns 9.. stay zero). */
void NAME(pose_to_block_backward)(const REAL *g, const REAL *grad, idx B, idx D,
                                  REAL *grad_g) {
    memset(grad_g, 0, sizeof(REAL) * B * D);
    for (idx b = 0; b < B; ++b) {
        const REAL *r = g + b * D;
        REAL *o = grad_g + b * D;
        REAL n1 = unit_length(r[3], r[4], r[5]);
        REAL b1[3] = {r[3] / n1, r[4] / n1, r[5] / n1};
        const REAL a2[3] = {r[6], r[7], r[8]};
        REAL s = b1[0] * a2[0] + b1[1] * a2[1] + b1[2] * a2[2];
        REAL u[3] = {a2[0] - s * b1[0], a2[1] - s * b1[1], a2[2] - s * b1[2]};
        REAL n2 = unit_length(u[0], u[1], u[2]);
        REAL b2[3] = {u[0] / n2, u[1] / n2, u[2] / n2};
        REAL g1[3], g2[3], g3[3];
        for (int i = 0; i < 3; ++i) {
            g1[i] = grad[(i * 4 + 0) * B + b];
            g2[i] = grad[(i * 4 + 1) * B + b];
            g3[i] = grad[(i * 4 + 2) * B + b];
            o[i] = grad[(i * 4 + 3) * B + b];
        }
        /* b3 = b1 x b2 */
        REAL c1[3] = {b2[1] * g3[2] - b2[2] * g3[1], b2[2] * g3[0] - b2[0] * g3[2],
                      b2[0] * g3[1] - b2[1] * g3[0]};
        REAL c2[3] = {g3[1] * b1[2] - g3[2] * b1[1], g3[2] * b1[0] - g3[0] * b1[2],
                      g3[0] * b1[1] - g3[1] * b1[0]};
        for (int i = 0; i < 3; ++i) {
            g1[i] += c1[i];
            g2[i] += c2[i];
        }
        /* b2 = unit(u), u = a2 - (b1 . a2) b1 */
        REAL d2 = b2[0] * g2[0] + b2[1] * g2[1] + b2[2] * g2[2];
        REAL gu[3];
        for (int i = 0; i < 3; ++i) gu[i] = (g2[i] - b2[i] * d2) / n2;
        REAL gub = gu[0] * b1[0] + gu[1] * b1[1] + gu[2] * b1[2];
        for (int i = 0; i < 3; ++i) {
            o[6 + i] = gu[i] - gub * b1[i];
            g1[i] = g1[i] - gub * a2[i] - s * gu[i];
        }
        /* b1 = unit(a1) */
        REAL d1 = b1[0] * g1[0] + b1[1] * g1[1] + b1[2] * g1[2];
        for (int i = 0; i < 3; ++i) o[3 + i] = (g1[i] - b1[i] * d1) / n1;
    }
}

/* Poses (3, 4, F, B) of every frame of a kinematic tree, frames in breadth-first
 * order (a frame's parent comes before it; parent[f] < 0 for a root). The local
 * transform of frame f is base + sin(th) sin_part + (1 - cos(th)) cos_part
 * (+ th slide_part), th = joints[joint_index[f]], with the parts (F, 12) row-major
 * [R | t]; frames with moving[f] == 0 are fixed. joints is (K, B). */
void NAME(frame_poses)(const REAL *joints, idx B, const REAL *base, const REAL *sin_part,
                       const REAL *cos_part, const REAL *slide_part, const int64_t *joint_index,
                       const int64_t *parent, const uint8_t *moving, idx F, REAL *out) {
    for (idx f = 0; f < F; ++f) {
        const REAL *bs = base + f * 12, *sn = sin_part + f * 12, *cs = cos_part + f * 12;
        const REAL *sl = slide_part ? slide_part + f * 12 : 0;
        const REAL *th = joints + joint_index[f] * B;
        idx p = parent[f];
        for (idx b = 0; b < B; ++b) {
            REAL local[12];
            if (moving[f]) {
                REAL s = sin(th[b]), c = 1 - cos(th[b]);
                for (int k = 0; k < 12; ++k) local[k] = bs[k] + s * sn[k] + c * cs[k];
                if (sl)
                    for (int k = 0; k < 12; ++k) local[k] += th[b] * sl[k];
            } else {
                for (int k = 0; k < 12; ++k) local[k] = bs[k];
            }
            if (p < 0) {
                for (int k = 0; k < 12; ++k) out[(k * F + f) * B + b] = local[k];
                continue;
            }
            REAL P[12];
            for (int k = 0; k < 12; ++k) P[k] = out[(k * F + p) * B + b];
            for (int i = 0; i < 3; ++i) {
                for (int c = 0; c < 4; ++c) {
                    REAL v = P[i * 4 + 0] * local[0 * 4 + c] + P[i * 4 + 1] * local[1 * 4 + c]
                           + P[i * 4 + 2] * local[2 * 4 + c];
                    if (c == 3) v += P[i * 4 + 3];
                    out[((i * 4 + c) * F + f) * B + b] = v;
                }
            }
        }
    }
}

/* Backward of the link poses out (3, 4, L, B) (frames (3, 4, F, B) of frame_poses),
 * from the geometric Jacobian: for joint j at frame joint_frame[j] with local axis
 * axis (J, 3), world axis z and origin o,
 *   d/d theta = z . sum_l moves[j, l] (sum_k out_l[:, k] x grad_l[:, k] - o x grad_l[:, 3])
 * (revolute) or z . sum_l moves[j, l] grad_l[:, 3] (prismatic); added into
 * grad_joints[joint_input[j]] (K, B), which the caller zeroes. wrench is scratch of
 * (L, 6) values. */
void NAME(link_poses_backward)(const REAL *frames, idx F, const REAL *out, const REAL *grad,
                               idx L, idx B, const REAL *moves, const int64_t *joint_frame,
                               const REAL *axis, const uint8_t *revolute,
                               const int64_t *joint_input, idx J, REAL *grad_joints,
                               REAL *wrench) {
    for (idx b = 0; b < B; ++b) {
        for (idx l = 0; l < L; ++l) {
            REAL w[3] = {0, 0, 0};
            for (int k = 0; k < 4; ++k) {
                REAL a[3], g[3];
                for (int i = 0; i < 3; ++i) {
                    a[i] = out[((i * 4 + k) * L + l) * B + b];
                    g[i] = grad[((i * 4 + k) * L + l) * B + b];
                }
                w[0] += a[1] * g[2] - a[2] * g[1];
                w[1] += a[2] * g[0] - a[0] * g[2];
                w[2] += a[0] * g[1] - a[1] * g[0];
            }
            for (int i = 0; i < 3; ++i) {
                wrench[l * 6 + i] = w[i];
                wrench[l * 6 + 3 + i] = grad[((i * 4 + 3) * L + l) * B + b];
            }
        }
        for (idx j = 0; j < J; ++j) {
            REAL m[6] = {0, 0, 0, 0, 0, 0};
            const REAL *mv = moves + j * L;
            for (idx l = 0; l < L; ++l)
                if (mv[l] != 0)
                    for (int i = 0; i < 6; ++i) m[i] += mv[l] * wrench[l * 6 + i];
            idx f = joint_frame[j];
            REAL z[3], o[3];
            for (int i = 0; i < 3; ++i) {
                z[i] = 0;
                for (int k = 0; k < 3; ++k) z[i] += frames[((i * 4 + k) * F + f) * B + b] * axis[j * 3 + k];
                o[i] = frames[((i * 4 + 3) * F + f) * B + b];
            }
            REAL turn;
            if (revolute[j]) {
                REAL ox[3] = {o[1] * m[5] - o[2] * m[4], o[2] * m[3] - o[0] * m[5],
                              o[0] * m[4] - o[1] * m[3]};
                turn = z[0] * (m[0] - ox[0]) + z[1] * (m[1] - ox[1]) + z[2] * (m[2] - ox[2]);
            } else {
                turn = z[0] * m[3] + z[1] * m[4] + z[2] * m[5];
            }
            grad_joints[joint_input[j] * B + b] += turn;
        }
    }
}

/* Backward of placing points local (3, P, M) on link poses: point group m sits on
 * link pose link_pose[..., m] (hand frame), placed by frame_m[..., m] (both (3, 4, M));
 * grad (3, P, M). Adds d/d frame into grad_frame (12, NF) at column batch[m] and
 * d/d link into grad_links (12, NL) at column column[m]; the caller zeroes both. */
void NAME(place_points_backward)(const REAL *grad, const REAL *local, idx P, idx M,
                                 const REAL *frame_m, const REAL *link_pose,
                                 const int64_t *batch, const int64_t *column, REAL *grad_frame,
                                 idx NF, REAL *grad_links, idx NL) {
    for (idx m = 0; m < M; ++m) {
        REAL gp[12];  /* d/d (frame o link) [R | t], row-major */
        for (int i = 0; i < 3; ++i) {
            REAL s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (idx p = 0; p < P; ++p) {
                REAL gv = grad[(i * P + p) * M + m];
                s0 += gv * local[(0 * P + p) * M + m];
                s1 += gv * local[(1 * P + p) * M + m];
                s2 += gv * local[(2 * P + p) * M + m];
                s3 += gv;
            }
            gp[i * 4 + 0] = s0;
            gp[i * 4 + 1] = s1;
            gp[i * 4 + 2] = s2;
            gp[i * 4 + 3] = s3;
        }
        REAL F[12], Lk[12];
        for (int k = 0; k < 12; ++k) {
            F[k] = frame_m[k * M + m];
            Lk[k] = link_pose[k * M + m];
        }
        idx fb = batch[m], lc = column[m];
        for (int i = 0; i < 3; ++i) {
            for (int k = 0; k < 3; ++k) {
                REAL v = gp[i * 4 + 0] * Lk[k * 4 + 0] + gp[i * 4 + 1] * Lk[k * 4 + 1]
                       + gp[i * 4 + 2] * Lk[k * 4 + 2] + gp[i * 4 + 3] * Lk[k * 4 + 3];
                grad_frame[(i * 4 + k) * NF + fb] += v;
            }
            grad_frame[(i * 4 + 3) * NF + fb] += gp[i * 4 + 3];
        }
        for (int k = 0; k < 3; ++k)
            for (int c = 0; c < 4; ++c)
                grad_links[(k * 4 + c) * NL + lc] += F[0 * 4 + k] * gp[0 * 4 + c]
                                                  + F[1 * 4 + k] * gp[1 * 4 + c]
                                                  + F[2 * 4 + k] * gp[2 * 4 + c];
    }
}

/* A grid of node values flat (R, R, R), z-major (index x + R (y + R z)), spanning
 * box = [lo (3), hi (3), cells per metre (3)]. */
typedef struct {
    const REAL *flat;
    idx R;
    const REAL *lo, *hi, *per_metre;
} Grid;

static Grid make_grid(const REAL *flat, idx R, const REAL *box) {
    Grid g = {flat, R, box, box + 3, box + 6};
    return g;
}

/* Where p falls: its cell's first node, its position in the cell t (0-1 per axis) and
 * the squared distance off2 by which it lies outside the box. */
static idx locate(const Grid *grid, const REAL p[3], REAL t[3], REAL *off2) {
    idx corner[3];
    *off2 = 0;
    for (int a = 0; a < 3; ++a) {
        REAL q = p[a] < grid->lo[a] ? grid->lo[a] : (p[a] > grid->hi[a] ? grid->hi[a] : p[a]);
        REAL cell = q * grid->per_metre[a] - grid->lo[a] * grid->per_metre[a];
        REAL c = floor(cell);
        if (c < 0) c = 0;
        if (c > grid->R - 2) c = (REAL)(grid->R - 2);
        corner[a] = (idx)c;
        t[a] = cell - c;
        *off2 += (p[a] - q) * (p[a] - q);
    }
    return corner[0] + grid->R * (corner[1] + grid->R * corner[2]);
}

/* The trilinear value at p and its spatial gradient g (the offset direction outside
 * the box, where the value grows by the offset). */
static REAL sample(const Grid *grid, const REAL p[3], REAL g[3], idx *first_out, REAL t[3],
                   REAL *off2) {
    idx R = grid->R, first = locate(grid, p, t, off2);
    REAL v[2][2][2]; /* [dz][dy][dx] */
    for (int dz = 0; dz < 2; ++dz)
        for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx)
                v[dz][dy][dx] = grid->flat[first + dz * R * R + dy * R + dx];
    REAL ax[2][2], sx[2][2], axy[2], sxy[2], sy[2];
    for (int dz = 0; dz < 2; ++dz) {
        for (int dy = 0; dy < 2; ++dy) {
            ax[dz][dy] = v[dz][dy][0] + t[0] * (v[dz][dy][1] - v[dz][dy][0]);
            sx[dz][dy] = v[dz][dy][1] - v[dz][dy][0];
        }
        axy[dz] = ax[dz][0] + t[1] * (ax[dz][1] - ax[dz][0]);
        sxy[dz] = sx[dz][0] + t[1] * (sx[dz][1] - sx[dz][0]);
        sy[dz] = ax[dz][1] - ax[dz][0];
    }
    REAL value = axy[0] + t[2] * (axy[1] - axy[0]);
    if (g) {
        g[0] = (sxy[0] + t[2] * (sxy[1] - sxy[0])) * grid->per_metre[0];
        g[1] = (sy[0] + t[2] * (sy[1] - sy[0])) * grid->per_metre[1];
        g[2] = (axy[1] - axy[0]) * grid->per_metre[2];
    }
    if (*off2 > 0) {
        REAL out = sqrt(*off2);
        value += out;
        if (g) {
            for (int a = 0; a < 3; ++a) {
                REAL q = p[a] < grid->lo[a] ? grid->lo[a] : (p[a] > grid->hi[a] ? grid->hi[a] : p[a]);
                g[a] = (p[a] - q) / out;
            }
        }
    }
    if (first_out) *first_out = first;
    return value;
}

/* A lower bound on how far p is outside the object: the value of the node nearest p
 * (clamped into the box) less 1.5 cell diagonals (see TorchSDF.outside_bound). */
static REAL outside_bound(const Grid *grid, const REAL p[3], REAL cell_diagonal) {
    idx node[3];
    for (int a = 0; a < 3; ++a) {
        REAL q = p[a] < grid->lo[a] ? grid->lo[a] : (p[a] > grid->hi[a] ? grid->hi[a] : p[a]);
        node[a] = (idx)nearbyint((q - grid->lo[a]) * grid->per_metre[a]);
    }
    return grid->flat[node[0] + grid->R * (node[1] + grid->R * node[2])] - (REAL)1.5 * cell_diagonal;
}

/* Trilinear signed distance of points (3, N): value (N,) and its spatial gradient
 * grad (3, N). With node gradients flat_gradient (R^3, 3), smooth (3, N) gets them
 * trilinearly interpolated (the offset direction outside the box). */
void NAME(trilinear)(const REAL *points, idx N, const REAL *flat, const REAL *flat_gradient,
                     idx R, const REAL *box, REAL *value, REAL *grad, REAL *smooth) {
    Grid grid = make_grid(flat, R, box);
    for (idx n = 0; n < N; ++n) {
        REAL p[3] = {points[n], points[N + n], points[2 * N + n]}, g[3], t[3], off2;
        idx first;
        value[n] = sample(&grid, p, g, &first, t, &off2);
        for (int a = 0; a < 3; ++a) grad[a * N + n] = g[a];
        if (!smooth) continue;
        for (int a = 0; a < 3; ++a) {
            REAL s = g[a];
            if (off2 <= 0) {
                REAL w[2][2], wz[2];
                for (int dz = 0; dz < 2; ++dz) {
                    for (int dy = 0; dy < 2; ++dy) {
                        const REAL *c = flat_gradient + (first + dz * R * R + dy * R) * 3 + a;
                        w[dz][dy] = c[0] + t[0] * (c[3] - c[0]);
                    }
                    wz[dz] = w[dz][0] + t[1] * (w[dz][1] - w[dz][0]);
                }
                s = wz[0] + t[2] * (wz[1] - wz[0]);
            }
            smooth[a * N + n] = s;
        }
    }
}

static void compose12(const REAL *A, const REAL *Bm, REAL *out) {
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 4; ++c)
            out[i * 4 + c] = A[i * 4 + 0] * Bm[0 * 4 + c] + A[i * 4 + 1] * Bm[1 * 4 + c]
                           + A[i * 4 + 2] * Bm[2 * 4 + c] + (c == 3 ? A[i * 4 + 3] : 0);
}

static void apply12(const REAL *T, const REAL p[3], REAL out[3]) {
    for (int i = 0; i < 3; ++i)
        out[i] = T[i * 4 + 0] * p[0] + T[i * 4 + 1] * p[1] + T[i * 4 + 2] * p[2] + T[i * 4 + 3];
}

/* The hand surface points inside an object (see HandModel.surface_inside): link poses
 * links (3, 4, L, B) in the hand frame, placed by frame (3, 4, B) into the object's
 * frame; link_mask (B, L) or NULL limits the links. Coarse chunks (centres (Cc, 3)
 * in their link's frame, links (Cc,), squared radii (Cc,)) are tested against the
 * object's bounding box (object_box[0:3] to object_box[3:6]); their fine chunks (children (Cc, W), -1
 * padded; centres (3, C), radii (C,)) against the grid's outside bound; their points
 * (3, P, C) (valid (P, C)) against the bound, then the trilinear value. Writes the
 * (chunk, slot, batch) of each point inside, at most capacity of them, and returns
 * how many there are (possibly more than capacity: call again with room for all).
 * object_box[6] is the grid's cell diagonal (m). */
idx NAME(surface_inside)(const REAL *links, idx L, idx B, const REAL *frame,
                         const uint8_t *link_mask, const REAL *coarse_centre,
                         const int64_t *coarse_link, const REAL *coarse_radius2, idx Cc,
                         const int64_t *children, idx W, const REAL *chunk_points,
                         const REAL *chunk_valid, idx P, idx C, const REAL *chunk_centre,
                         const REAL *chunk_radius, const REAL *object_box,
                         const REAL *flat, idx R, const REAL *grid_box,
                         idx capacity, int64_t *out_chunk, int64_t *out_slot,
                         int64_t *out_batch) {
    Grid grid = make_grid(flat, R, grid_box);
    const REAL *box_lo = object_box, *box_hi = object_box + 3;
    REAL cell_diagonal = object_box[6];
    idx count = 0;
    for (idx b = 0; b < B; ++b) {
        REAL F[12];
        for (int k = 0; k < 12; ++k) F[k] = frame[k * B + b];
        idx placed_link = -1;
        REAL T[12]; /* link placed_link's pose in the object's frame */
        for (idx cc = 0; cc < Cc; ++cc) {
            idx l = coarse_link[cc];
            if (link_mask && !link_mask[b * L + l]) continue;
            if (l != placed_link) { /* coarse chunks come grouped by link */
                REAL Lk[12];
                for (int k = 0; k < 12; ++k) Lk[k] = links[(k * L + l) * B + b];
                compose12(F, Lk, T);
                placed_link = l;
            }
            REAL centre[3], gap2 = 0;
            apply12(T, coarse_centre + cc * 3, centre);
            for (int a = 0; a < 3; ++a) {
                REAL e = centre[a] < box_lo[a] ? box_lo[a] - centre[a]
                       : (centre[a] > box_hi[a] ? centre[a] - box_hi[a] : 0);
                gap2 += e * e;
            }
            if (gap2 > coarse_radius2[cc]) continue;
            for (idx w = 0; w < W; ++w) {
                idx c = children[cc * W + w];
                if (c < 0) continue;
                REAL local[3] = {chunk_centre[c], chunk_centre[C + c], chunk_centre[2 * C + c]};
                REAL placed[3];
                apply12(T, local, placed);
                if (outside_bound(&grid, placed, cell_diagonal) > chunk_radius[c]) continue;
                for (idx s = 0; s < P; ++s) {
                    if (!(chunk_valid[s * C + c] > 0)) continue;
                    REAL q[3] = {chunk_points[(0 * P + s) * C + c], chunk_points[(1 * P + s) * C + c],
                                 chunk_points[(2 * P + s) * C + c]};
                    apply12(T, q, placed);
                    if (outside_bound(&grid, placed, cell_diagonal) > 0) continue;
                    REAL t[3], off2;
                    if (!(sample(&grid, placed, 0, 0, t, &off2) < 0)) continue;
                    if (count < capacity) {
                        out_chunk[count] = c;
                        out_slot[count] = s;
                        out_batch[count] = b;
                    }
                    ++count;
                }
            }
        }
    }
    return count;
}
