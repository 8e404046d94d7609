// ScheduleBuilder — collects each device's ops and derives their point-to-point transfers from the stage
// placement, so generators only say *what* runs *where, in which order*.
namespace SharpSeek.Planner.Pipeline;

internal sealed class ScheduleBuilder
{
    private readonly ScheduleKind _kind;
    private readonly int _devices, _stages, _microBatches;
    private readonly int[][] _routes;
    private readonly int[] _routeOf;
    private readonly DeviceProgram[] _programs;

    public ScheduleBuilder(ScheduleKind kind, int devices, int stages, int microBatches, int[][] routes, int[] routeOf)
    {
        _kind = kind; _devices = devices; _stages = stages; _microBatches = microBatches;
        _routes = routes; _routeOf = routeOf;
        _programs = new DeviceProgram[devices];
        for (int d = 0; d < devices; d++) _programs[d] = new DeviceProgram(this, d);
    }

    /// <summary>Stage s on device s for every micro-batch (1F1B, ZB1P).</summary>
    public static ScheduleBuilder Linear(ScheduleKind kind, int stages, int microBatches) =>
        new(kind, stages, stages, microBatches, [Enumerable.Range(0, stages).ToArray()], new int[microBatches]);

    public DeviceProgram Device(int d) => _programs[d];

    public int StageDevice(int microBatch, int stage) => _routes[_routeOf[microBatch]][stage];

    public int Stages => _stages;

    public PipelineSchedule Build() => new(_kind, _devices, _stages, _microBatches, _routes, _routeOf,
        _programs.Select(p => (IReadOnlyList<PipelineOp>)p.Ops.ToArray()).ToArray());
}

/// <summary>One device's program under construction.</summary>
internal sealed class DeviceProgram(ScheduleBuilder owner, int device)
{
    public List<PipelineOp> Ops { get; } = [];

    public void Forward(int m, int s) => Add(OpKind.Forward, new Work(Pass.Forward, m, s));
    public void BackwardInput(int m, int s) => Add(OpKind.BackwardInput, new Work(Pass.BackwardInput, m, s));
    public void Weight(int m, int s) => Add(OpKind.BackwardWeight, new Work(Pass.BackwardWeight, m, s));
    public void Backward(int m, int s) =>
        Add(OpKind.Backward, new Work(Pass.BackwardInput, m, s), new Work(Pass.BackwardWeight, m, s));

    /// <summary>Adds an op; a forward receives the previous stage's activation and sends its own to the next
    /// stage, a backward-for-inputs receives the next stage's gradient and sends its own back — whenever that
    /// stage lives on another device.</summary>
    public void Add(OpKind kind, params Work[] works)
    {
        var receives = new List<Transfer>();
        var sends = new List<Transfer>();
        foreach (var w in works)
        {
            if (w.Pass == Pass.Forward)
            {
                if (w.Stage > 0 && Peer(w.MicroBatch, w.Stage - 1) is int from)
                    receives.Add(new Transfer(from, TransferKind.Activation, w.MicroBatch, w.Stage - 1));
                if (w.Stage < owner.Stages - 1 && Peer(w.MicroBatch, w.Stage + 1) is int to)
                    sends.Add(new Transfer(to, TransferKind.Activation, w.MicroBatch, w.Stage));
            }
            else if (w.Pass == Pass.BackwardInput)
            {
                if (w.Stage < owner.Stages - 1 && Peer(w.MicroBatch, w.Stage + 1) is int from)
                    receives.Add(new Transfer(from, TransferKind.Gradient, w.MicroBatch, w.Stage + 1));
                if (w.Stage > 0 && Peer(w.MicroBatch, w.Stage - 1) is int to)
                    sends.Add(new Transfer(to, TransferKind.Gradient, w.MicroBatch, w.Stage));
            }
        }
        Ops.Add(new PipelineOp(kind, works, receives.ToArray(), sends.ToArray()));
    }

    /// <summary>The device holding (m, s) when it is not this one.</summary>
    private int? Peer(int m, int s)
    {
        int d = owner.StageDevice(m, s);
        return d == device ? null : d;
    }
}
