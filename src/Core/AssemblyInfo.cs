using System.Runtime.Versioning;

// KdumpSharp reads Linux crash dumps and drives Linux syscalls; it targets Linux only.
[assembly: SupportedOSPlatform("linux")]
