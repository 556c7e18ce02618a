package zero

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// ManifestName is the manifest file of a sharded checkpoint.
const ManifestName = "manifest.json"

// Manifest describes a sharded checkpoint: the world that wrote it and the
// flat layout of every layer (the same for every world size and stage).
type Manifest struct {
	Format    string          `json:"format"` // "tessera-zero/1"
	WorldSize int             `json:"world_size"`
	Stage     int             `json:"stage"`
	DType     string          `json:"dtype"`
	Optimizer string          `json:"optimizer"`
	Step      int             `json:"step"` // optimizer steps taken
	Files     []string        `json:"files"`
	Layers    []ManifestLayer `json:"layers"`
	Buffers   []string        `json:"buffers"` // the optimizer's state buffers per element
	Extra     []string        `json:"extra"`   // module entries saved whole by rank 0 (buffers, frozen parameters)
}

// ManifestLayer is one layer's flat layout.
type ManifestLayer struct {
	Numel  int             `json:"numel"`
	Params []ManifestParam `json:"params"`
}

// ManifestParam is one parameter inside its layer's flat layout.
type ManifestParam struct {
	Names  []string `json:"names"`
	Shape  []int    `json:"shape"`
	Offset int      `json:"offset"`
}

const manifestFormat = "tessera-zero/1"

func shardFile(rank, size int) string {
	return fmt.Sprintf("shard-%05d-of-%05d.safetensors", rank, size)
}

// SaveSharded writes this rank's shard of the model state to dir (every
// rank calls it; a collective): the file shard-<rank>-of-<size> holds, per
// layer u, "layer.<u>.range" (the shard's [lo, hi) in the layer's flat
// layout), "layer.<u>.param" (the parameters, in their dtype),
// "layer.<u>.master" (the float32 master, if any) and
// "layer.<u>.state.<buffer>" (the optimizer's buffers over the shard), plus
// the optimizer's step count and group fields; rank 0 also writes the
// module's other entries (buffers) as "extra.<name>", the loss scaler's
// state as "scaler.<name>" (with Options.Scaler) and the manifest.
func (z *Model) SaveSharded(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("zero: %w", err)
	}
	var sd map[string]*tensor.Tensor
	var man Manifest
	if err := tensor.Try(func() { sd, man = z.shardState() }); err != nil {
		return fmt.Errorf("zero: saving: %w", err)
	}
	md := map[string]string{"format": manifestFormat, "rank": strconv.Itoa(z.rank), "world_size": strconv.Itoa(z.size)}
	err := nn.SaveStateDict(filepath.Join(dir, shardFile(z.rank, z.size)), sd, md)
	if err == nil && z.rank == 0 {
		var b []byte
		b, err = json.MarshalIndent(man, "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, ManifestName), b, 0o644)
		}
	}
	if err != nil {
		z.comm.Abort(err)
		return fmt.Errorf("zero: %w", err)
	}
	ctx, cancel := z.ctx()
	defer cancel()
	return z.comm.Barrier(ctx)
}

func (z *Model) shardState() (map[string]*tensor.Tensor, Manifest) {
	man := Manifest{Format: manifestFormat, WorldSize: z.size, Stage: int(z.opts.Stage), DType: z.dt.String(),
		Optimizer: z.opt.Kind().String()}
	for r := range z.size {
		man.Files = append(man.Files, shardFile(r, z.size))
	}
	osd := z.opt.StateDict()
	bufSet := map[string]bool{}
	sd := map[string]*tensor.Tensor{}
	for k, t := range osd {
		if strings.HasPrefix(k, "group.") {
			sd["optim."+k] = t
			continue
		}
		parts := strings.SplitN(k, ".", 3) // param.<i>.<name>
		if len(parts) == 3 && parts[2] == "step" {
			man.Step = max(man.Step, int(t.Item()))
		} else if len(parts) == 3 {
			bufSet[parts[2]] = true
		}
	}
	for b := range bufSet {
		man.Buffers = append(man.Buffers, b)
	}
	slices.Sort(man.Buffers)
	sd["optim.step"] = tensor.Scalar(float64(man.Step), tensor.Int64)
	for _, u := range z.units {
		ml := ManifestLayer{Numel: u.n}
		for k, pi := range u.params {
			p := z.params[pi]
			ml.Params = append(ml.Params, ManifestParam{Names: p.names, Shape: p.shape, Offset: u.offs[k]})
		}
		man.Layers = append(man.Layers, ml)
		pre := "layer." + strconv.Itoa(u.idx) + "."
		sd[pre+"range"] = tensor.FromSlice([]int64{int64(u.lo), int64(u.hi)}, 2)
		sd[pre+"param"] = u.shardP
		if u.master != nil {
			sd[pre+"master"] = u.master
		}
		for _, b := range man.Buffers {
			flat := tensor.Zeros(z.masterDType(), u.hi-u.lo)
			for _, pc := range u.pieces {
				if t := osd["param."+strconv.Itoa(pc.optIndex)+"."+b]; t != nil {
					flat.Narrow(0, pc.lo-u.lo, pc.hi-pc.lo).CopyFrom(t.To(tensor.CPU))
				}
			}
			sd[pre+"state."+b] = flat
		}
	}
	if z.rank == 0 && z.opts.Scaler != nil {
		for k, t := range z.opts.Scaler.StateDict() {
			sd["scaler."+k] = t
		}
	}
	if z.rank == 0 {
		trainable := map[string]bool{}
		for _, p := range z.params {
			for _, n := range p.names {
				trainable[n] = true
			}
		}
		for k, t := range z.module.StateDict() {
			if !trainable[k] {
				sd["extra."+k] = t
				man.Extra = append(man.Extra, k)
			}
		}
		slices.Sort(man.Extra)
	}
	return sd, man
}

// ReadManifest reads dir's manifest.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, fmt.Errorf("zero: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("zero: %s: %w", ManifestName, err)
	}
	if m.Format != manifestFormat {
		return m, fmt.Errorf("zero: %s: format %q, want %q", ManifestName, m.Format, manifestFormat)
	}
	if len(m.Files) != m.WorldSize {
		return m, fmt.Errorf("zero: %s: %d files for a world of %d", ManifestName, len(m.Files), m.WorldSize)
	}
	return m, nil
}

// fullState is a checkpoint's layers reassembled whole.
type fullState struct {
	man    Manifest
	param  []*tensor.Tensor            // per layer, numel, the checkpoint's dtype
	master []*tensor.Tensor            // per layer, float32, nil without masters
	bufs   []map[string]*tensor.Tensor // per layer and buffer, float32
	extra  map[string]*tensor.Tensor
	group  map[string]*tensor.Tensor // "group.<g>.<field>"
	scaler map[string]*tensor.Tensor // the loss scaler's state, if saved
}

// readFull reads every shard of dir and reassembles the layers.
func readFull(dir string) (*fullState, error) {
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	fs := &fullState{man: man, extra: map[string]*tensor.Tensor{}, group: map[string]*tensor.Tensor{}, scaler: map[string]*tensor.Tensor{}}
	nl := len(man.Layers)
	fs.param, fs.master, fs.bufs = make([]*tensor.Tensor, nl), make([]*tensor.Tensor, nl), make([]map[string]*tensor.Tensor, nl)
	for r, f := range man.Files {
		sd, _, err := nn.ReadStateDict(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("zero: shard %d: %w", r, err)
		}
		var perr error
		if err := tensor.Try(func() { perr = fs.place(r, sd) }); err != nil {
			return nil, fmt.Errorf("zero: shard %d: %w", r, err)
		}
		if perr != nil {
			return nil, fmt.Errorf("zero: shard %d: %w", r, perr)
		}
	}
	for u := range fs.param {
		if fs.param[u] == nil {
			return nil, fmt.Errorf("zero: layer %d is in no shard", u)
		}
	}
	return fs, nil
}

func (fs *fullState) place(rank int, sd map[string]*tensor.Tensor) error {
	for k, t := range sd {
		switch {
		case strings.HasPrefix(k, "extra."):
			fs.extra[strings.TrimPrefix(k, "extra.")] = t
		case strings.HasPrefix(k, "optim.group."):
			fs.group[strings.TrimPrefix(k, "optim.")] = t
		case strings.HasPrefix(k, "scaler."):
			fs.scaler[strings.TrimPrefix(k, "scaler.")] = t
		}
	}
	for u, l := range fs.man.Layers {
		pre := "layer." + strconv.Itoa(u) + "."
		rg := sd[pre+"range"]
		p := sd[pre+"param"]
		if rg == nil || p == nil {
			return fmt.Errorf("layer %d missing", u)
		}
		r := rg.Int64s()
		lo, hi := int(r[0]), int(r[1])
		if lo < 0 || hi < lo || p.NumElements() != hi-lo {
			return fmt.Errorf("layer %d: range [%d, %d) for %d elements", u, lo, hi, p.NumElements())
		}
		// the part of the shard inside the layer (the rest is padding)
		hiIn := min(hi, l.Numel)
		if hiIn <= lo {
			continue
		}
		put := func(dst **tensor.Tensor, src *tensor.Tensor, dt tensor.DType) {
			if *dst == nil {
				*dst = tensor.Zeros(dt, l.Numel)
			}
			(*dst).Narrow(0, lo, hiIn-lo).CopyFrom(src.Reshape(-1).Narrow(0, 0, hiIn-lo))
		}
		put(&fs.param[u], p, p.DType())
		if m := sd[pre+"master"]; m != nil {
			put(&fs.master[u], m, m.DType())
		}
		if fs.bufs[u] == nil {
			fs.bufs[u] = map[string]*tensor.Tensor{}
		}
		for _, b := range fs.man.Buffers {
			if s := sd[pre+"state."+b]; s != nil {
				t := fs.bufs[u][b]
				put(&t, s, s.DType())
				fs.bufs[u][b] = t
			}
		}
	}
	return nil
}

// stateDict is the whole module's state dict: every parameter under each
// of its names (from the master weights when there are any, so nothing is
// lost to rounding, cast to dt when dt is not zero) and the extras.
func (fs *fullState) stateDict(fromMaster bool) map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for k, t := range fs.extra {
		sd[k] = t
	}
	for u, l := range fs.man.Layers {
		src := fs.param[u]
		if fromMaster && fs.master[u] != nil {
			src = fs.master[u]
		}
		for _, p := range l.Params {
			n := tensor.Shape(p.Shape).NumElements()
			t := src.Narrow(0, p.Offset, n).Reshape(p.Shape...).Clone()
			for _, name := range p.Names {
				sd[name] = t
			}
		}
	}
	return sd
}

// Consolidate merges the sharded checkpoint in dir into one safetensors
// file at out holding the whole module's state dict (parameters in the
// dtype they were trained in, buffers), which nn.Load reads into the
// unsharded module. It needs no communicator.
func Consolidate(dir, out string) error {
	fs, err := readFull(dir)
	if err != nil {
		return err
	}
	md := map[string]string{"format": "tessera-zero/consolidated", "world_size": strconv.Itoa(fs.man.WorldSize),
		"stage": strconv.Itoa(fs.man.Stage), "step": strconv.Itoa(fs.man.Step)}
	return nn.SaveStateDict(out, fs.stateDict(false), md)
}

// LoadSharded resumes from the sharded checkpoint in dir, written at any
// world size and stage for a module of the same structure (every rank
// calls it): parameters, master weights and optimizer state are
// reassembled per layer and re-split for this world.
func (z *Model) LoadSharded(dir string) error {
	fs, err := readFull(dir)
	if err != nil {
		return err
	}
	if len(fs.man.Layers) != len(z.units) {
		return fmt.Errorf("zero: checkpoint has %d layers, the model %d", len(fs.man.Layers), len(z.units))
	}
	for i, u := range z.units {
		l := fs.man.Layers[i]
		if l.Numel != u.n || len(l.Params) != len(u.params) {
			return fmt.Errorf("zero: checkpoint layer %d has %d elements in %d parameters, the model's %d in %d",
				i, l.Numel, len(l.Params), u.n, len(u.params))
		}
		for k, pi := range u.params {
			if p := z.params[pi]; !slices.Equal(l.Params[k].Shape, p.shape) || l.Params[k].Names[0] != p.names[0] {
				return fmt.Errorf("zero: checkpoint layer %d parameter %s%v, the model's %s%v", i, l.Params[k].Names[0], l.Params[k].Shape, p.names[0], p.shape)
			}
		}
	}
	var lerr error
	if err := tensor.Try(func() { lerr = z.load(fs) }); err != nil {
		return fmt.Errorf("zero: loading: %w", err)
	}
	return lerr
}

func (z *Model) load(fs *fullState) error {
	osd := map[string]*tensor.Tensor{}
	for k, t := range fs.group {
		osd[k] = t
	}
	for _, u := range z.units {
		full := fs.param[u.idx]
		shard := func(src *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
			t := tensor.Zeros(dt, u.hi-u.lo)
			if hiIn := min(u.hi, u.n); hiIn > u.lo {
				t.Narrow(0, 0, hiIn-u.lo).CopyFrom(src.Narrow(0, u.lo, hiIn-u.lo))
			}
			return t
		}
		if u.flatP != nil {
			u.flatP.Narrow(0, 0, u.n).CopyFrom(full.To(z.dev))
		} else {
			u.shardP.CopyFrom(shard(full, z.dt).To(z.dev))
		}
		if u.master != nil {
			src := fs.master[u.idx]
			if src == nil {
				src = full
			}
			u.master.CopyFrom(shard(src, u.master.DType()).To(u.master.Device()))
		}
		if fs.man.Step == 0 {
			continue
		}
		for _, pc := range u.pieces {
			pre := "param." + strconv.Itoa(pc.optIndex) + "."
			osd[pre+"step"] = tensor.Scalar(float64(fs.man.Step), tensor.Int64)
			for b, t := range fs.bufs[u.idx] {
				osd[pre+b] = t.Narrow(0, pc.lo, pc.hi-pc.lo).Clone()
			}
		}
	}
	if err := z.opt.LoadStateDict(osd); err != nil {
		return err
	}
	if z.opts.Scaler != nil && len(fs.scaler) > 0 {
		if err := z.opts.Scaler.LoadStateDict(fs.scaler); err != nil {
			return err
		}
	}
	if len(fs.extra) > 0 {
		cur := z.module.StateDict()
		for k, t := range fs.extra {
			if c := cur[k]; c != nil {
				c.CopyFrom(t.To(c.Device()))
			} else {
				return errors.New("zero: checkpoint entry " + k + " is not in the module")
			}
		}
	}
	return nil
}
