"""On a device: setting clocks (sysfs pinning with restore), CPU clusters and thread pinning,
energy sources, the run context of every result, and frequency sweeps. Torch-free.

- :mod:`allinone.device.clocks`: pin a cpufreq policy or devfreq device, restore it on any exit;
- :mod:`allinone.device.topology`: big.LITTLE clusters from cpufreq, ``--cpus`` specs;
- :mod:`allinone.device.energy`: powercap/RAPL, hwmon and Jetson INA3221 sources, getrusage;
- :mod:`allinone.device.context`: what a measurement was made on;
- :mod:`allinone.device.sweep`: latency of every level at every clock (``allinone sweep``).
"""
