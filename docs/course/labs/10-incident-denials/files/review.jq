# An AdmissionReview for a workload of KIND running IMAGE, as the API server sends it to /validate.
($kind | if . == "Pod" then "" else "apps" end) as $group
| ($kind | if . == "Pod" then "pods" else (ascii_downcase + "s") end) as $resource
| {containers: [{name: "app", image: $image}]} as $spec
| {apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
   request: {uid: $uid, kind: {group: $group, version: "v1", kind: $kind},
     resource: {group: $group, version: "v1", resource: $resource},
     namespace: $ns, name: $name, operation: "CREATE",
     userInfo: {username: (if $kind == "Pod" then "system:serviceaccount:kube-system:replicaset-controller"
       elif $kind == "ReplicaSet" then "system:serviceaccount:kube-system:deployment-controller"
       else "system:serviceaccount:flux-system:kustomize-controller" end)},
     object: ({apiVersion: (if $group == "" then "v1" else "apps/v1" end), kind: $kind,
       metadata: {name: $name, namespace: $ns, labels: {app: $name}}}
       + (if $kind == "Pod" then {spec: $spec}
          else {spec: {selector: {matchLabels: {app: $name}},
            template: {metadata: {labels: {app: $name}}, spec: $spec}}} end)),
     dryRun: false}}
